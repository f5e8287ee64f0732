"""API tokens (issue 22): bearer tokens for the JSON admin API, scoped to read or write and
to chosen sites (``api_token_site``) or all; only the SHA-256 of each secret is kept."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0022_tree_nodes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('public_id', fields.CharField(unique=True, max_length=16)),
                ('name', fields.CharField(max_length=80)),
                ('secret_hash', fields.CharField(max_length=64)),
                ('scope', fields.CharField(max_length=8)),
                ('all_sites', fields.BooleanField(default=False)),
                ('created_by', fields.ForeignKeyField('models.Staff', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='api_tokens', on_delete=OnDelete.SET_NULL)),
                ('created_by_email', fields.CharField(default='', max_length=254)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_token', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A bearer token for the JSON admin API (``services/api_tokens.py``): scoped to read or'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiTokenSite',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token', fields.ForeignKeyField('models.ApiToken', source_field='token_id', db_constraint=True, to_field='id', related_name='site_grants', on_delete=OnDelete.CASCADE)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='api_token_grants', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'api_token_site', 'app': 'models', 'unique_together': (('token', 'site'),), 'pk_attr': 'id', 'table_description': 'A site an API token may reach (unless ``ApiToken.all_sites``).'},
            bases=['Model'],
        ),
    ]

"""Automatic blocking: staff's own rules per site (``services/blocking.py``); the rest are
derived at publish time and live only in the published config."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_consent_counters')]

    initial = False

    operations = [
        ops.CreateModel(
            name='BlockingRule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='blocking_rules', on_delete=OnDelete.CASCADE)),
                ('host', fields.CharField(max_length=253)),
                ('path', fields.CharField(default='', max_length=500)),
                ('purposes', fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'blocking_rule', 'app': 'models', 'unique_together': (('site', 'host', 'path'),), 'pk_attr': 'id', 'table_description': "Staff's own blocking rule for a host and path prefix (``services/blocking.py``): added"},
            bases=['Model'],
        ),
    ]

"""Staff lifecycle, second half (issue 19): two-factor sign-in (a sealed TOTP secret per
account, the last time step used, hashed recovery codes), site-limited accounts (the sites each
may see) and the installation's own settings (whether owners must use two-factor sign-in).
Only tables and columns are added: no table rebuild on SQLite."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_banner_appearance')]

    initial = False

    operations = [
        ops.CreateModel(
            name='InstallationSetting',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('value', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'installation_setting', 'app': 'models', 'pk_attr': 'key', 'table_description': 'A setting of the whole installation that owners change in the admin (not in the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RecoveryCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='recovery_codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(max_length=64)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'recovery_code', 'app': 'models', 'indexes': [Index(fields=['staff_id', 'code_hash'])], 'pk_attr': 'id', 'table_description': 'A one-time recovery code for two-factor sign-in: only its SHA-256 is kept.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffSite',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='site_grants', on_delete=OnDelete.CASCADE)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='staff_grants', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'staff_site', 'app': 'models', 'unique_together': (('staff', 'site'),), 'pk_attr': 'id', 'table_description': 'A site a site-limited account may see (``Staff.site_limited``).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Staff',
            name='site_limited',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Staff',
            name='totp_enabled_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Staff',
            name='totp_last_step',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='Staff',
            name='totp_pending',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='Staff',
            name='totp_secret',
            field=fields.CharField(null=True, max_length=255),
        ),
    ]

from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ScanJob',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='scan_jobs', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharField(default='queued', max_length=16)),
                ('options', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('requested_by', fields.CharField(null=True, max_length=200)),
                ('requested_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('claimed_by', fields.CharField(null=True, max_length=200)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('heartbeat_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('progress', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('error', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'scan_job', 'app': 'models', 'indexes': [Index(fields=['status', 'requested_at'])], 'pk_attr': 'id', 'table_description': 'A requested scan, claimed by one worker at a time and claimed again if it goes stale.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Scan',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='scans', on_delete=OnDelete.CASCADE)),
                ('job', fields.ForeignKeyField('models.ScanJob', source_field='job_id', null=True, db_constraint=True, to_field='id', related_name='scans', on_delete=OnDelete.SET_NULL)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('report', fields.TextField(unique=False)),
                ('summary', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('diff', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'scan', 'app': 'models', 'pk_attr': 'id', 'table_description': "A finished scan: the scanner's report as it came, and what changed since the last one."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Site',
            name='scan_interval_hours',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Site',
            name='scan_url',
            field=fields.CharField(null=True, max_length=2000),
        ),
    ]

"""Notifications (issue 22): events, the webhook endpoints owners add per site, staff's mail
subscriptions and language, each delivery (webhook, mail or digest) claimed by one worker at
a time, and every attempt's answer."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_staff_lifecycle')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('type', fields.CharField(max_length=64)),
                ('data', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'event', 'app': 'models', 'indexes': [Index(fields=['site_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'Something staff may want to hear about (``services/events.py``), kept so that every'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MailPreference',
            fields=[
                ('staff', fields.OneToOneField('models.Staff', source_field='staff_id', primary_key=True, db_index=True, db_constraint=True, to_field='id', related_name='mail_preference', on_delete=OnDelete.CASCADE)),
                ('language', fields.CharField(default='en', max_length=8)),
            ],
            options={'table': 'mail_preference', 'app': 'models', 'pk_attr': 'staff_id', 'table_description': "A staff member's language for mail (en, sv or da)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MailSubscription',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='subscriptions', on_delete=OnDelete.CASCADE)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='subscriptions', on_delete=OnDelete.CASCADE)),
                ('event', fields.CharField(max_length=64)),
                ('mode', fields.CharField(max_length=16)),
            ],
            options={'table': 'mail_subscription', 'app': 'models', 'unique_together': (('staff', 'site', 'event'),), 'pk_attr': 'id', 'table_description': "Which of a site's events reach a staff member by mail: at once or in a daily digest."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='webhooks', on_delete=OnDelete.CASCADE)),
                ('url', fields.CharField(max_length=2048)),
                ('description', fields.CharField(default='', max_length=200)),
                ('events', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('secret', fields.CharField(max_length=128)),
                ('enabled', fields.BooleanField(default=True)),
                ('disabled_reason', fields.CharField(null=True, max_length=300)),
                ('failing_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('created_by', fields.CharField(default='', max_length=254)),
            ],
            options={'table': 'webhook_endpoint', 'app': 'models', 'pk_attr': 'id', 'table_description': "A URL an owner asked us to POST a site's events to, signed as the Standard Webhooks"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Delivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('event', fields.ForeignKeyField('models.Event', source_field='event_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(default='webhook', max_length=16)),
                ('endpoint', fields.ForeignKeyField('models.WebhookEndpoint', source_field='endpoint_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='mail_deliveries', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('attempts', fields.IntField(default=0)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('claimed_by', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'delivery', 'app': 'models', 'indexes': [Index(fields=['status', 'due_at'])], 'pk_attr': 'id', 'table_description': 'One event on its way to one endpoint, claimed by one worker at a time'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='DeliveryAttempt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('delivery', fields.ForeignKeyField('models.Delivery', source_field='delivery_id', db_constraint=True, to_field='id', related_name='tries', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status_code', fields.IntField(null=True)),
                ('duration_ms', fields.IntField()),
                ('excerpt', fields.TextField(default='', unique=False)),
                ('error', fields.CharField(null=True, max_length=300)),
            ],
            options={'table': 'delivery_attempt', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One try at a delivery: what the endpoint answered, or why nothing was.'},
            bases=['Model'],
        ),
    ]

"""The inventory's review: what the knowledge base suggested when a scan found an item (kept
beside what staff chose), whether the latest scan saw it before consent (the violation flag),
and an index for the list's default order. Existing rows: no suggestion, not seen before consent
until the next scan.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_admin_accounts')]

    initial = False

    operations = [
        ops.AddField(
            model_name='InventoryItem',
            name='before_consent',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='InventoryItem',
            name='suggested_description',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='InventoryItem',
            name='suggested_duration_days',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='InventoryItem',
            name='suggested_purpose',
            field=fields.CharField(null=True, max_length=16),
        ),
        ops.AddField(
            model_name='InventoryItem',
            name='suggested_vendor',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='InventoryItem',
            name='suggested_vendor_name',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddIndex(
            model_name='InventoryItem',
            index=Index(fields=['site_id', 'name']),
        ),
    ]

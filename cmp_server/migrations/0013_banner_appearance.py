"""Banner appearance (issue 19): the draft's look on the site row (colours, layout, radius,
font, logo; null is the default look) and the uploaded logos, kept by their content hash.

Going back drops the column with ``ALTER TABLE … DROP COLUMN`` on both databases (SQLite has it
since 3.35): tortoise's generic RemoveField rebuilds ``site`` on SQLite, and dropping the old
table would delete every site's purposes, vendors, inventory and versions (see
``migrations/__init__.py``).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class _AddAppearance(ops.AddField):
    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor:
            await state_editor.client.execute_script(
                'ALTER TABLE "site" DROP COLUMN "appearance"')


class Migration(migrations.Migration):
    dependencies = [('models', '0012_revisions')]

    initial = False

    operations = [
        _AddAppearance(
            model_name='Site',
            name='appearance',
            field=fields.JSONField(null=True),
        ),
        ops.CreateModel(
            name='Logo',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='logos', on_delete=OnDelete.CASCADE)),
                ('sha256', fields.CharField(max_length=64)),
                ('media_type', fields.CharField(max_length=16)),
                ('width', fields.IntField()),
                ('height', fields.IntField()),
                ('data', fields.BinaryField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'logo', 'app': 'models', 'unique_together': (('site', 'sha256'),), 'pk_attr': 'id', 'table_description': 'An uploaded banner logo (``services/appearance.py``), kept by its content: served at\n``/v1/logos/{sha256}.{ext}`` from our own origin, never from the site\'s.'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Logo',
            index=Index(fields=['sha256']),
        ),
    ]

"""A visitor's receipts are found through (consent_id, id), which replaces the index on
consent_id alone: the receipt writer asks for each visitor's last receipt before every insert,
and with only (consent_id) PostgreSQL may answer "ORDER BY id DESC LIMIT 1" by walking the
primary key backwards through the whole table.

Only the old index is dropped. Tortoise's generic AlterField rebuilds the table on SQLite,
which would lose the other index and the append-only trigger of 0003.
"""

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

_OLD_INDEX = "idx_consent_rec_consent_6e0211"


class _DropConsentIdIndex(ops.AlterField):
    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor:
            await state_editor.client.execute_script(f'DROP INDEX IF EXISTS "{_OLD_INDEX}"')

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor:
            await state_editor.client.execute_script(
                f'CREATE INDEX IF NOT EXISTS "{_OLD_INDEX}" ON "consent_receipt" ("consent_id")'
            )


class Migration(migrations.Migration):
    dependencies = [("models", "0003_append_only_receipts")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="ConsentReceipt",
            index=Index(fields=["consent_id", "id"]),
        ),
        _DropConsentIdIndex(
            model_name="ConsentReceipt",
            name="consent_id",
            field=fields.UUIDField(),
        ),
    ]

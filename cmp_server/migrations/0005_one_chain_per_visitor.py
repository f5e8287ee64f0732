"""Each visitor's receipts form one chain, held by the database itself: at most one receipt
per visitor without a predecessor, and at most one successor per receipt. The writer checks
both before it inserts, but two server processes writing for the same visitor at the same
moment could each pass that check; with these indexes the second insert fails, and the
writer reads the chain again and links to the receipt the other process wrote.

Partial indexes (both databases have them), so that each receipt adds one index entry, not
two.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

_INDEXES = (
    ("consent_receipt_one_first", "consent_id", "previous_receipt_id IS NULL"),
    ("consent_receipt_one_next", "previous_receipt_id", "previous_receipt_id IS NOT NULL"),
)


async def forward(apps, schema_editor):
    for name, column, where in _INDEXES:
        await schema_editor.client.execute_script(
            f'CREATE UNIQUE INDEX IF NOT EXISTS "{name}" ON "consent_receipt" ("{column}")'
            f" WHERE {where}"
        )


async def backward(apps, schema_editor):
    for name, _, _ in _INDEXES:
        await schema_editor.client.execute_script(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("models", "0004_receipt_chain_index")]

    operations = [ops.RunPython(forward, backward)]

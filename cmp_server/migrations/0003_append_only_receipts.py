"""Receipts are append-only: the database itself refuses to UPDATE one.

Deletion stays possible for the retention purge, which logs itself (PurgeLog).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

_SQLITE = (
    "CREATE TRIGGER consent_receipt_append_only BEFORE UPDATE ON consent_receipt "
    "BEGIN SELECT RAISE(ABORT, 'consent receipts are append-only'); END;"
)
_POSTGRES = """
CREATE OR REPLACE FUNCTION consent_receipt_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'consent receipts are append-only'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER consent_receipt_append_only BEFORE UPDATE ON consent_receipt
    FOR EACH ROW EXECUTE FUNCTION consent_receipt_append_only();
"""


async def forward(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect == "sqlite":
        await client.execute_script(_SQLITE)
    else:
        await client.execute_script(_POSTGRES)


async def backward(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect == "sqlite":
        await client.execute_script("DROP TRIGGER IF EXISTS consent_receipt_append_only")
    else:
        await client.execute_script(
            "DROP TRIGGER IF EXISTS consent_receipt_append_only ON consent_receipt;"
            "DROP FUNCTION IF EXISTS consent_receipt_append_only();"
        )


class Migration(migrations.Migration):
    dependencies = [("models", "0002_scans")]

    operations = [ops.RunPython(forward, backward)]

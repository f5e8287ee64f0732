"""A vendor's transfers outside the EEA may be unknown (NULL): a vendor the scanner found but
the knowledge base has no facts for. Before, unknown was stored as "no transfer", and the
banner then said nothing about a transfer that may well happen. Existing rows keep their
values (nothing tells which ``false`` was a guess).

SQLite cannot drop NOT NULL in place. Tortoise's generic AlterField rebuilds the table with
foreign keys on, and dropping the old table then sets every inventory item's vendor to NULL
(ON DELETE SET NULL). So the rebuild here is SQLite's own procedure: foreign keys off, copy,
drop, rename, check, foreign keys on, outside a transaction of the migration's own. The
AUTOINCREMENT counter is carried over.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

_COLUMNS = ("id", "key", "name", "country", "privacy_policy_url", "transfers_outside_eea",
            "transfer_basis", "description", "site_id")


def _sqlite_table(nullable: bool) -> str:
    transfers = "INT" if nullable else "INT NOT NULL"
    return f"""CREATE TABLE "new__vendor" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key" VARCHAR(64) NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "country" VARCHAR(2),
    "privacy_policy_url" VARCHAR(2000),
    "transfers_outside_eea" {transfers},
    "transfer_basis" VARCHAR(200),
    "description" JSON NOT NULL,
    "site_id" INT NOT NULL REFERENCES "site" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_vendor_site_id_8fe256" UNIQUE ("site_id", "key")
)"""


async def _rebuild_sqlite(client, nullable: bool) -> None:
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    values = ", ".join(
        'COALESCE("transfers_outside_eea", 0)' if c == "transfers_outside_eea" and not nullable
        else f'"{c}"'
        for c in _COLUMNS
    )
    await client.execute_script("PRAGMA foreign_keys=OFF")
    try:
        await client.execute_script(
            "BEGIN;\n"
            f"{_sqlite_table(nullable)};\n"
            f'INSERT INTO "new__vendor" ({columns}) SELECT {values} FROM "vendor";\n'
            # AUTOINCREMENT: keep the counter, so ids of deleted vendors are not given again.
            "DELETE FROM sqlite_sequence WHERE name = 'new__vendor';\n"
            "INSERT INTO sqlite_sequence (name, seq)"
            " SELECT 'new__vendor', seq FROM sqlite_sequence WHERE name = 'vendor';\n"
            'DROP TABLE "vendor";\n'
            'ALTER TABLE "new__vendor" RENAME TO "vendor";\n'
            "COMMIT;"
        )
        broken = await client.execute_query_dict("PRAGMA foreign_key_check")
        if broken:
            raise RuntimeError(f"vendor rebuild left broken foreign keys: {broken}")
    finally:
        await client.execute_script("PRAGMA foreign_keys=ON")


class _TransfersMayBeUnknown(ops.AlterField):
    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor:
            await _change(state_editor.client, nullable=True)

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor:
            await _change(state_editor.client, nullable=False)


async def _change(client, *, nullable: bool) -> None:
    if client.capabilities.dialect == "sqlite":
        await _rebuild_sqlite(client, nullable)
    elif nullable:
        await client.execute_script(
            'ALTER TABLE "vendor" ALTER COLUMN "transfers_outside_eea" DROP NOT NULL'
        )
    else:
        await client.execute_script(
            'UPDATE "vendor" SET "transfers_outside_eea" = FALSE'
            ' WHERE "transfers_outside_eea" IS NULL;'
            'ALTER TABLE "vendor" ALTER COLUMN "transfers_outside_eea" SET NOT NULL'
        )


class Migration(migrations.Migration):
    dependencies = [("models", "0005_one_chain_per_visitor")]

    initial = False
    atomic = False  # SQLite ignores PRAGMA foreign_keys inside a transaction

    operations = [
        _TransfersMayBeUnknown(
            model_name="Vendor",
            name="transfers_outside_eea",
            field=fields.BooleanField(null=True, default=None),
        ),
    ]

"""Receipt chains per (site, consent id), not per consent id (issue 20, part 3).

Until now a visitor's receipts formed one chain across every site: a consent id used on site
A, then B, then A linked A's second receipt to B's (two sites sharing a parent-domain consent
cookie do this, and so can anyone who knows a consent id), and site A's chain read as broken.
From here on the writer links a receipt to the visitor's last receipt on the same site, and
the database holds one chain per (site, consent id):

- the unique partial indexes of 0005 become per site: at most one first receipt per (site,
  consent id), at most one successor per receipt on each site;
- the index (consent_id, id) of 0004 becomes (site_id, consent_id, id), which finds a
  visitor's last receipt on a site in one step.

Receipts already stored are never rewritten (append-only since 0003, and their hashes are the
proof). A receipt whose stored link names the same visitor's receipt on another site gets a
row in ``receipt_chain_repair`` instead: the receipt before it on its own site (or none), and
the record hash of the receipt its link names, which its own hash was chained over. The
verifier (``services/verify.py``) reads the two together, so the repaired chain verifies,
record hashes included. That table is append-only too.

A stored link that names a receipt of the same site other than its predecessor, another
visitor's, or one no longer stored is not repaired: that is a break (or a purge) the verifier
must go on reporting as before.

Stop servers of the previous version before migrating (as for 0009): a receipt they write
afterwards may link across sites again, and nothing repairs it.
"""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

_OLD_UNIQUE = (
    ("consent_receipt_one_first", '"consent_id"', "previous_receipt_id IS NULL"),
    ("consent_receipt_one_next", '"previous_receipt_id"', "previous_receipt_id IS NOT NULL"),
)
_NEW_UNIQUE = (
    ("consent_receipt_first_per_site", '"site_id", "consent_id"', "previous_receipt_id IS NULL"),
    ("consent_receipt_next_per_site", '"site_id", "previous_receipt_id"',
     "previous_receipt_id IS NOT NULL"),
)

# Each receipt linking to the same visitor's receipt on another site, with the receipt before
# it on its own site (the same order the writer chains in: by id) and the hash it was chained
# over. Rows the old writer wrote in id order, so the result is too.
_REPAIR = """
INSERT INTO receipt_chain_repair (receipt_id, site_id, previous_receipt_id, linked_hash,
                                  repaired_at)
SELECT r.receipt_id, r.site_id,
       (SELECT q.receipt_id FROM consent_receipt q
        WHERE q.site_id = r.site_id AND q.consent_id = r.consent_id AND q.id < r.id
        ORDER BY q.id DESC LIMIT 1),
       p.record_hash, {now}
FROM consent_receipt r
JOIN consent_receipt p ON p.receipt_id = r.previous_receipt_id
WHERE p.site_id <> r.site_id AND p.consent_id = r.consent_id
ORDER BY r.id
"""

_SQLITE_APPEND_ONLY = (
    "CREATE TRIGGER receipt_chain_repair_append_only BEFORE UPDATE ON receipt_chain_repair "
    "BEGIN SELECT RAISE(ABORT, 'receipt chain repairs are append-only'); END;"
)
_POSTGRES_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION receipt_chain_repair_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'receipt chain repairs are append-only'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER receipt_chain_repair_append_only BEFORE UPDATE ON receipt_chain_repair
    FOR EACH ROW EXECUTE FUNCTION receipt_chain_repair_append_only();
"""


async def _unique(client, create, drop) -> None:
    for name, _, _ in drop:
        await client.execute_script(f'DROP INDEX IF EXISTS "{name}"')
    for name, columns, where in create:
        await client.execute_script(
            f'CREATE UNIQUE INDEX IF NOT EXISTS "{name}" ON "consent_receipt" ({columns})'
            f" WHERE {where}"
        )


async def forward(apps, schema_editor):
    client = schema_editor.client
    sqlite = client.capabilities.dialect == "sqlite"
    await _unique(client, _NEW_UNIQUE, _OLD_UNIQUE)
    # The database's own clock, so the migration needs no value from Python.
    now = "strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')" if sqlite else "now()"
    await client.execute_script(_REPAIR.format(now=now))
    await client.execute_script(_SQLITE_APPEND_ONLY if sqlite else _POSTGRES_APPEND_ONLY)


async def backward(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect == "sqlite":
        await client.execute_script("DROP TRIGGER IF EXISTS receipt_chain_repair_append_only")
    else:
        await client.execute_script(
            "DROP TRIGGER IF EXISTS receipt_chain_repair_append_only ON receipt_chain_repair;"
            "DROP FUNCTION IF EXISTS receipt_chain_repair_append_only();"
        )
    # Fails, and so keeps the migration, once a visitor has a chain on two sites: the
    # previous version cannot hold that.
    await _unique(client, _OLD_UNIQUE, _NEW_UNIQUE)


class Migration(migrations.Migration):
    dependencies = [("models", "0023_item_vendor_sort")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ReceiptChainRepair",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True,
                                          db_index=True)),
                ("receipt_id", fields.UUIDField(unique=True)),
                ("site", fields.ForeignKeyField(
                    "models.Site", source_field="site_id", db_constraint=True, to_field="id",
                    related_name="chain_repairs", on_delete=OnDelete.CASCADE)),
                ("previous_receipt_id", fields.UUIDField(null=True)),
                ("linked_hash", fields.CharField(max_length=64)),
                ("repaired_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "receipt_chain_repair", "app": "models", "pk_attr": "id",
                "table_description": "A receipt chained across sites before 0017, and its"
                " predecessor on its own site.",
            },
            bases=["Model"],
        ),
        ops.AddIndex(
            model_name="ConsentReceipt",
            index=Index(fields=["site_id", "consent_id", "id"]),
        ),
        ops.RemoveIndex(model_name="ConsentReceipt", fields=["consent_id", "id"]),
        ops.RunPython(forward, backward),
    ]

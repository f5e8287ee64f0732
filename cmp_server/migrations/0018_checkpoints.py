"""Signed checkpoints (issue 21): each site's receipts as leaves of a Merkle tree, in the
order they were stored (``receipt_leaf``), the signed checkpoints of those trees
(``checkpoint``) and the signing keys' public halves (``signing_key``).

A leaf and a checkpoint are never changed once written: the database refuses an UPDATE of
either, as it does a receipt's (0003). Deletions are left to verification, which names them
(a missing position, a broken chain of checkpoints), again as for receipts.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

_TABLES = ("receipt_leaf", "checkpoint")


def _sqlite(table):
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END;"
    )


def _postgres(table):
    return f"""
CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{table} rows are append-only'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {table}_append_only();
"""


async def _append_only_forward(apps, schema_editor):
    client = schema_editor.client
    for table in _TABLES:
        sqlite = client.capabilities.dialect == "sqlite"
        await client.execute_script(_sqlite(table) if sqlite else _postgres(table))


async def _append_only_backward(apps, schema_editor):
    client = schema_editor.client
    for table in _TABLES:
        if client.capabilities.dialect == "sqlite":
            await client.execute_script(f"DROP TRIGGER IF EXISTS {table}_append_only")
        else:
            await client.execute_script(
                f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};"
                f"DROP FUNCTION IF EXISTS {table}_append_only();"
            )

class Migration(migrations.Migration):
    dependencies = [('models', '0017_chains_per_site')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Checkpoint',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='checkpoints', on_delete=OnDelete.RESTRICT)),
                ('tree_size', fields.BigIntField()),
                ('root_hash', fields.CharField(max_length=64)),
                ('signed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('key_id', fields.CharField(max_length=16)),
                ('previous_hash', fields.CharField(max_length=64)),
                ('body', fields.TextField(unique=False)),
                ('signature', fields.CharField(max_length=100)),
                ('frontier', fields.TextField(unique=False)),
            ],
            options={'table': 'checkpoint', 'app': 'models', 'unique_together': (('site', 'tree_size'), ('site', 'previous_hash')), 'pk_attr': 'id', 'table_description': "A signed statement of a site's tree: its size and root at a time (``cmp_verify."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReceiptLeaf',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='leaves', on_delete=OnDelete.RESTRICT)),
                ('position', fields.BigIntField()),
                ('receipt_pk', fields.BigIntField(unique=True)),
                ('receipt_id', fields.UUIDField()),
                ('recorded_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('leaf_hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'receipt_leaf', 'app': 'models', 'unique_together': (('site', 'position'),), 'pk_attr': 'id', 'table_description': "A receipt's place in its site's Merkle tree (``services/checkpoints.py``): positions from"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SigningKey',
            fields=[
                ('key_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=16)),
                ('public_key', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('retired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('endorsed_by', fields.CharField(default='', max_length=16)),
                ('endorsement', fields.CharField(default='', max_length=100)),
            ],
            options={'table': 'signing_key', 'app': 'models', 'pk_attr': 'key_id', 'table_description': "A checkpoint signing key's public half (the private half lives in a file, never here)."},
            bases=['Model'],
        ),
        ops.RunPython(_append_only_forward, _append_only_backward),
    ]

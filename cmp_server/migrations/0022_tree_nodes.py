"""Stored subtrees of each site's Merkle tree (issue 21): the hash of every complete subtree
at levels 4, 8, 12, ... (``tree_node``), so that an inclusion or consistency proof reads
O(log n) rows instead of every leaf (``services/tree_store.py``).

Append-only as the leaves are (an UPDATE is refused). The trees that exist get their nodes
here, from their leaves, with the same hashing the checkpoint run uses (RFC 6962's
``SHA-256(0x01 || left || right)``), written out so that this migration stays what it is
whatever the code becomes.
"""

import hashlib

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

_STRIDE = 4
_PAGE = 50_000


def _guard(sqlite):
    if sqlite:
        return ("CREATE TRIGGER tree_node_append_only BEFORE UPDATE ON tree_node "
                "BEGIN SELECT RAISE(ABORT, 'tree_node rows are append-only'); END;")
    return """
CREATE OR REPLACE FUNCTION tree_node_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'tree_node rows are append-only'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tree_node_append_only BEFORE UPDATE ON tree_node
    FOR EACH ROW EXECUTE FUNCTION tree_node_append_only();
"""


async def _forward(apps, schema_editor):
    client = schema_editor.client
    sqlite = client.capabilities.dialect == "sqlite"
    await client.execute_script(_guard(sqlite))
    mark = (lambda n: "?") if sqlite else (lambda n: f"${n}")
    insert = ("INSERT INTO tree_node (site_id, level, node_index, hash) VALUES"
              f" ({mark(1)}, {mark(2)}, {mark(3)}, {mark(4)})")
    sites = await client.execute_query_dict("SELECT DISTINCT site_id FROM receipt_leaf")
    for site in sites:
        site_id = site["site_id"]
        stack: list[bytes] = []  # the frontier: complete subtrees, largest first
        size = 0
        while True:
            page = await client.execute_query_dict(
                f"SELECT position, leaf_hash FROM receipt_leaf WHERE site_id = {mark(1)}"
                f" AND position >= {mark(2)} ORDER BY position LIMIT {_PAGE}", [site_id, size])
            if not page:
                break
            nodes, gap = [], False
            for row in page:
                if row["position"] != size:
                    gap = True  # the tree stops there, as verification will say
                    break
                merged, n, level = bytes.fromhex(row["leaf_hash"]), size, 0
                while n & 1:
                    merged = hashlib.sha256(b"\x01" + stack.pop() + merged).digest()
                    n >>= 1
                    level += 1
                    if level % _STRIDE == 0:
                        nodes.append([site_id, level, size >> level, merged.hex()])
                stack.append(merged)
                size += 1
            if nodes:
                await client.execute_many(insert, nodes)
            if gap:
                break


async def _backward(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect == "sqlite":
        await client.execute_script("DROP TRIGGER IF EXISTS tree_node_append_only")
    else:
        await client.execute_script(
            "DROP TRIGGER IF EXISTS tree_node_append_only ON tree_node;"
            "DROP FUNCTION IF EXISTS tree_node_append_only();")


class Migration(migrations.Migration):
    dependencies = [('models', '0021_scan_schedules')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TreeNode',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='tree_nodes', on_delete=OnDelete.RESTRICT)),
                ('level', fields.SmallIntField()),
                ('node_index', fields.BigIntField()),
                ('hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'tree_node', 'app': 'models', 'unique_together': (('site', 'level', 'node_index'),), 'pk_attr': 'id', 'table_description': "A complete subtree of a site's Merkle tree: the hash of the 2**level leaves from"},
            bases=['Model'],
        ),
        ops.RunPython(_forward, _backward),
    ]

"""Consent counters: receipts counted per site, UTC day, method and purpose
(``services/counters.py``), kept by the receipt writer from now on, and counted here from the
receipts already stored."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


# Counted from the receipts already stored, once, as the new table is made (a database that
# had receipts before the counters). Receipts written meanwhile by a server still running the
# previous version are not counted: once every server runs this one, `recount` (the service
# ``counters.recount``) counts them. The SQL is the recount's, written out here so that this
# migration stays as it is when that code changes.
_BACKFILL_POSTGRES = """
INSERT INTO consent_daily (site_id, day, method, purpose, receipts, granted)
SELECT r.site_id, (r.recorded_at AT TIME ZONE 'UTC')::date, r.method, c.purpose,
       count(*), count(*) FILTER (WHERE c.granted)
FROM consent_receipt r
CROSS JOIN LATERAL (
    SELECT '' AS purpose, false AS granted
    UNION ALL
    SELECT key, value = 'true'::jsonb FROM jsonb_each(r.choices)
    WHERE jsonb_typeof(value) = 'boolean'
) c
GROUP BY 1, 2, 3, 4
"""
_BACKFILL_SQLITE = """
INSERT INTO consent_daily (site_id, day, method, purpose, receipts, granted)
SELECT site_id, date(recorded_at), method, '', count(*), 0
FROM consent_receipt GROUP BY 1, 2, 3
UNION ALL
SELECT r.site_id, date(r.recorded_at), r.method, j.key, count(*), sum(j.type = 'true')
FROM consent_receipt r, json_each(r.choices) j
WHERE j.type IN ('true', 'false')
GROUP BY 1, 2, 3, 4
"""


async def backfill(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    await client.execute_script(_BACKFILL_POSTGRES if postgres else _BACKFILL_SQLITE)


async def forget(apps, schema_editor):
    pass  # the table goes with the migration's first operation, undone after this one


class Migration(migrations.Migration):
    dependencies = [('models', '0008_inventory_review')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConsentDaily',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('site', fields.ForeignKeyField('models.Site', source_field='site_id', db_constraint=True, to_field='id', related_name='consent_counts', on_delete=OnDelete.CASCADE)),
                ('day', fields.DateField()),
                ('method', fields.CharField(max_length=16)),
                ('purpose', fields.CharField(default='', max_length=40)),
                ('receipts', fields.IntField(default=0)),
                ('granted', fields.IntField(default=0)),
            ],
            options={'table': 'consent_daily', 'app': 'models', 'unique_together': (('site', 'purpose', 'day', 'method'),), 'pk_attr': 'id', 'table_description': 'Consent receipts counted per site, UTC day, method and purpose (services/counters.py).'},
            bases=['Model'],
        ),
        ops.RunPython(backfill, forget),
    ]

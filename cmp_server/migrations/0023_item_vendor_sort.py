"""The inventory's order by vendor kept on the item (issue 19): ``vendor_sort`` is ``"0"`` and
the vendor's name, or ``"1"`` without a vendor (``models.vendor_sort``), with an index on
``(site_id, vendor_sort, name, id)``, so that a page sorted by vendor reads the index's first
rows instead of joining and sorting every item of the site. Existing rows get their vendor's
name here; the services keep it from then on.

It follows 0015 and comes before 0017 (chains per site): 0017's test takes a database back
to 0015's schema and writes sites and items through today's services, which write this
column.

Going back drops the index and the column with ``ALTER TABLE … DROP COLUMN`` on both databases
(tortoise's generic RemoveField rebuilds the table on SQLite; see ``migrations/__init__.py``).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

_BACKFILL = """
UPDATE inventory_item SET vendor_sort = '0' || (
    SELECT name FROM vendor WHERE vendor.id = inventory_item.vendor_id
) WHERE vendor_id IS NOT NULL
"""


async def backfill(apps, schema_editor):
    await schema_editor.client.execute_script(_BACKFILL)


async def forget(apps, schema_editor):
    pass


class _AddVendorSort(ops.AddField):
    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor:
            await state_editor.client.execute_script(
                'ALTER TABLE "inventory_item" DROP COLUMN "vendor_sort"')


class Migration(migrations.Migration):
    dependencies = [('models', '0015_two_factor_site_limits')]

    initial = False

    operations = [
        _AddVendorSort(
            model_name='InventoryItem',
            name='vendor_sort',
            field=fields.CharField(max_length=201, default='1', db_default='1'),
        ),
        ops.RunPython(backfill, forget),
        ops.AddIndex(
            model_name='InventoryItem',
            index=Index(fields=['site_id', 'vendor_sort', 'name', 'id']),
        ),
    ]

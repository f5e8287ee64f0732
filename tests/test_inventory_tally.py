"""The inventory's counts, kept per site by the database (migration 0024), against the items
themselves: whatever writes the items (the services, a scan's store, bulk edits, the ORM's
own updates, raw SQL, a site's deletion), ``inventory.counts`` reads what counting every row
reads. On SQLite and on PostgreSQL (``make test-postgres``), where the tally is folded while
other writers append to it."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from types import SimpleNamespace

from starlette.applications import Starlette
from tortoise import connections

from cmp_server import db
from cmp_server.models import InventoryItem, Purpose, Site
from cmp_server.services import inventory, items
from cmp_server.services.inventory import Counts
from cmp_server.services.scan_results import store_scan
from scanner import ScanReport

from .factories import published_site
from .test_scans import item, report


async def _counted(site: Site) -> Counts:
    """The counts read off every item of the site, by ``_flagged``'s rule."""
    optional = set(await Purpose.filter(site=site, required=False).values_list("id", flat=True))
    total = unreviewed = violations = review = missing = 0
    for row in await InventoryItem.filter(site=site).values(
            "purpose_id", "review_status", "before_consent", "missing_since"):
        total += 1
        unreviewed += row["review_status"] == "unreviewed"
        missing += row["missing_since"] is not None
        if (row["before_consent"] and row["missing_since"] is None
                and row["review_status"] != "gone"):
            violations += row["purpose_id"] in optional
            review += row["purpose_id"] is None
    return Counts(total, unreviewed, violations, review, missing)


async def _agrees(site: Site) -> Counts:
    kept = await inventory.counts(site)
    assert kept == await _counted(site)
    return kept


def _scan(n: int, prefix: str = "tally-c") -> ScanReport:
    return report(*(item(f"{prefix}{i}", "unclassified", None, passes=("none", "accept"))
                    for i in range(n)))


async def test_every_way_of_writing_items_keeps_the_counts(app: Starlette) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    before = await _agrees(site)
    assert before.total > 0

    await store_scan(site, _scan(30))  # 30 unreviewed, unclassified, seen before consent
    counts = await _agrees(site)
    assert (counts.total - before.total, counts.review - before.review) == (30, 30)

    ids = sorted(await InventoryItem.filter(site=site, name__startswith="tally-c").values_list(
        "id", flat=True))
    assert await items.bulk_update(site, ids[:10], "set_purpose", purpose="statistics") == 10
    assert await items.bulk_update(site, ids[10:15], "mark_reviewed") == 5
    assert await items.bulk_update(site, ids[15:18], "mark_gone") == 3
    counts = await _agrees(site)
    assert counts.violations - before.violations == 10

    # A purpose made required: its items are no violation, though no item changed.
    await Purpose.filter(site=site, key="statistics").update(required=True)
    assert (await _agrees(site)).violations == before.violations
    await Purpose.filter(site=site, key="statistics").update(required=False)

    # The ORM's own update and delete, and raw SQL, as a migration or an operator writes.
    now = datetime.now(UTC)
    assert await InventoryItem.filter(id__in=ids[18:22]).update(missing_since=now) == 4
    assert await InventoryItem.filter(id__in=ids[22:24]).delete() == 2
    conn = connections.get("default")
    mark = db.dialect().placeholder(1)
    await conn.execute_query(
        f"UPDATE inventory_item SET review_status = 'reviewed' WHERE site_id = {mark}",
        [site.id])
    await _agrees(site)

    # A second scan: seen again, gone from the page, new.
    await store_scan(site, _scan(20, "tally-d"))
    await _agrees(site)
    assert await _agrees(other) == await _counted(other)

    # A deleted site leaves nothing counted under its id.
    other_id = other.id
    await other.delete()
    rows = await conn.execute_query_dict(
        f"SELECT sum(n) AS n FROM inventory_tally WHERE site_id = {mark}", [other_id])
    assert int(rows[0]["n"] or 0) == 0


async def test_many_statements_are_folded_and_count_the_same(
    app: Starlette, is_postgres: bool
) -> None:
    """On PostgreSQL each statement appends its delta; past 64 of a site's rows the reader
    folds them. Also while another transaction's appends are not committed yet: the fold
    sums the rows it deleted, and the late ones count once they commit."""
    site, _ = await published_site()
    await store_scan(site, _scan(40))
    ids = await InventoryItem.filter(site=site, name__startswith="tally-c").values_list(
        "id", flat=True)
    for n, row_id in enumerate(ids):
        status = "reviewed" if n % 2 else "gone"
        await InventoryItem.filter(id=row_id).update(review_status=status)
        await InventoryItem.filter(id=row_id).update(review_status="unreviewed")
    conn = connections.get("default")
    mark = db.dialect().placeholder(1)
    kept = f"SELECT count(*) AS rows FROM inventory_tally WHERE site_id = {mark}"
    before = int((await conn.execute_query_dict(kept, [site.id]))[0]["rows"])
    await _agrees(site)  # folds, where there is anything to fold
    after = int((await conn.execute_query_dict(kept, [site.id]))[0]["rows"])
    assert after <= 64 and after <= before
    await _agrees(site)

    if not is_postgres:
        return
    import asyncpg  # type: ignore[import-untyped]

    other = await asyncpg.connect(_dsn())
    try:
        async with other.transaction():
            await other.execute(
                "UPDATE inventory_item SET review_status = 'reviewed' WHERE id = ANY($1)",
                list(ids[:5]))
            await InventoryItem.filter(id__in=ids[10:12]).update(review_status="gone")
            for row_id in ids[12:40]:  # statements enough to make the reader fold
                await InventoryItem.filter(id=row_id).update(review_status="reviewed")
                await InventoryItem.filter(id=row_id).update(review_status="unreviewed")
            await _agrees(site)  # the other transaction's five are in neither count
            assert int((await conn.execute_query_dict(kept, [site.id]))[0]["rows"]) <= 64
        await _agrees(site)  # now they are, in both
    finally:
        await other.close()


def _dsn() -> str:
    import os

    url = os.environ["CMP_TEST_DATABASE_URL"]
    return url.replace("postgres://", "postgresql://", 1)


async def test_the_migration_counts_existing_items(app: Starlette) -> None:
    site, _ = await published_site()
    await store_scan(site, _scan(25))
    await items.bulk_update(
        site, (await InventoryItem.filter(site=site).values_list("id", flat=True))[:7],
        "set_purpose", purpose="marketing")
    expected = await _agrees(site)
    migration = importlib.import_module("cmp_server.migrations.0024_inventory_tally")
    editor = SimpleNamespace(client=connections.get("default"))
    await migration.backward(None, editor)
    await migration.forward(None, editor)  # the table again, and every item counted
    assert await _agrees(site) == expected

"""Migrations that rebuild or alter a table keep its rows and the rows that point at it, both
ways, on the suite's database (SQLite or PostgreSQL), in a scratch database of their own."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from tortoise import Tortoise
from tortoise.migrations.api import migrate as migrate_api

from cmp_server import db
from cmp_server.models import InventoryItem, Site, Vendor

BEFORE_0006 = "models.0005_one_chain_per_visitor"
SCRATCH = "cmp_migration_scratch"


@pytest.fixture
async def scratch_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    if not database_url.startswith("postgres"):
        yield f"sqlite://{tmp_path / 'scratch.sqlite3'}"
        return
    import asyncpg

    parts = urlsplit(database_url)
    dsn = urlunsplit(parts._replace(scheme="postgresql"))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        await conn.execute(f"CREATE DATABASE {SCRATCH}")
        yield urlunsplit(parts._replace(path=f"/{SCRATCH}"))
    finally:
        await Tortoise.close_connections()
        await conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        await conn.close()


async def migrate_to(url: str, target: str | None) -> None:
    await migrate_api(config=db.tortoise_config(url), target=target)
    await Tortoise.close_connections()


async def opened(url: str) -> None:
    await Tortoise.init(config=db.tortoise_config(url))


async def _seed_as_of_0005() -> tuple[int, int]:
    """A site, Google with two items, and a deleted vendor, written in SQL to the tables as
    they were before 0006 (the models have columns added later, which that schema lacks).
    Returns the site's id and the deleted vendor's."""
    conn = Tortoise.get_connection("default")
    sqlite = conn.capabilities.dialect == "sqlite"
    at = datetime(2026, 1, 1, tzinfo=UTC)
    now: object = at.isoformat(" ") if sqlite else at

    async def insert(table: str, row: dict[str, object]) -> int:
        names = ", ".join(f'"{name}"' for name in row)
        marks = ", ".join("?" if sqlite else f"${n}" for n in range(1, len(row) + 1))
        sql = f'INSERT INTO "{table}" ({names}) VALUES ({marks}) RETURNING "id"'
        rows = await conn.execute_query_dict(sql, list(row.values()))
        return int(rows[0]["id"])

    site_id = await insert(
        "site",
        {
            "key": "s0005",
            "name": "Shop",
            "domains": '["shop.example"]',
            "languages": "[]",
            "default_language": "en",
            "consent_lifetime_days": 180,
            "receipt_retention_days": 1095,
            "texts": "{}",
            "options": "{}",
            "created_at": now,
            "updated_at": now,
        },
    )
    google = await insert(
        "vendor",
        {
            "site_id": site_id,
            "key": "google",
            "name": "Google",
            "country": "US",
            "transfers_outside_eea": True,
            "description": "{}",
        },
    )
    for name, match in (("_ga", "exact"), ("_ga_", "prefix")):
        await insert(
            "inventory_item",
            {
                "site_id": site_id,
                "vendor_id": google,
                "name": name,
                "match": match,
                "kind": "cookie",
                "party": "first",
                "description": "{}",
                "source": "manual",
                "review_status": "reviewed",
                "created_at": now,
            },
        )
    gone = await insert(
        "vendor",
        {
            "site_id": site_id,
            "key": "gone",
            "name": "Deleted",
            "transfers_outside_eea": False,
            "description": "{}",
        },
    )
    await conn.execute_query('DELETE FROM "vendor" WHERE "id" = ' + str(gone))
    return site_id, gone


async def _rows_at_0005() -> tuple[int, int]:
    """A site with a vendor and two items, written as the 0005 schema has them (in SQL: the
    models and services of today write columns that did not exist then). Returns the site's
    id and the id of a vendor that was deleted."""
    conn = Tortoise.get_connection("default")
    when = "'2026-01-01 00:00:00'"
    site = "(SELECT id FROM site WHERE key = 'k0005')"
    google = "(SELECT id FROM vendor WHERE key = 'google')"
    stats = "(SELECT id FROM purpose WHERE key = 'statistics')"
    item = (f"{site}, 'cookie', {google}, {stats}, 'first', '{{}}', 'manual', 'reviewed', "
            f"{when}")
    await conn.execute_script(f"""
        INSERT INTO site (key, name, domains, languages, default_language,
            consent_lifetime_days, receipt_retention_days, texts, options, created_at,
            updated_at)
        VALUES ('k0005', 'Shop', '["shop.example"]', '["en"]', 'en', 180, 1095, '{{}}',
            '{{}}', {when}, {when});
        INSERT INTO purpose (site_id, key, required, "order", name, description)
        VALUES ({site}, 'statistics', false, 0, '{{}}', '{{}}');
        INSERT INTO vendor (site_id, key, name, country, transfers_outside_eea, description)
        VALUES ({site}, 'google', 'Google', 'US', true, '{{}}');
        INSERT INTO vendor (site_id, key, name, country, transfers_outside_eea, description)
        VALUES ({site}, 'gone', 'Deleted', NULL, false, '{{}}');
        INSERT INTO inventory_item (name, match, site_id, kind, vendor_id, purpose_id, party,
            description, source, review_status, created_at)
        VALUES ('_ga', 'exact', {item}), ('_ga_', 'prefix', {item});
    """)
    site_id = await Site.get(key="k0005").values_list("id", flat=True)
    gone_id = await Vendor.get(key="gone").values_list("id", flat=True)
    await conn.execute_script("DELETE FROM vendor WHERE key = 'gone'")
    return int(site_id), int(gone_id)  # type: ignore[call-overload]


async def test_0006_keeps_vendors_and_their_items_and_lets_transfers_be_unknown(
    scratch_url: str,
) -> None:
    await migrate_to(scratch_url, BEFORE_0006)
    await opened(scratch_url)
    site_id, gone_id = await _rows_at_0005()
    await Tortoise.close_connections()

    await migrate_to(scratch_url, None)
    await opened(scratch_url)
    google = await Vendor.get(key="google")
    assert google.transfers_outside_eea is True
    linked = await InventoryItem.filter(vendor=google).values_list("name", flat=True)
    assert sorted(linked) == ["_ga", "_ga_"]  # not set to NULL by a table rebuild
    site = await Site.get(id=site_id)
    unknown = await Vendor.create(site=site, key="unknown", name="Found by a scan")
    assert (await Vendor.get(key="unknown")).transfers_outside_eea is None
    assert unknown.id > gone_id  # a deleted vendor's id is not given again
    await Tortoise.close_connections()

    await migrate_to(scratch_url, BEFORE_0006)  # and back: unknown becomes "no"
    await opened(scratch_url)
    rows = await Vendor.all().order_by("key").values_list("key", "transfers_outside_eea")
    assert [(k, bool(t)) for k, t in rows] == [("google", True), ("unknown", False)]
    linked = await InventoryItem.filter(vendor__key="google").values_list("name", flat=True)
    assert sorted(linked) == ["_ga", "_ga_"]
    await Tortoise.close_connections()


async def test_0013_adds_the_look_and_going_back_keeps_every_sites_rows(
    scratch_url: str,
) -> None:
    from cmp_server.models import Logo, Purpose
    from cmp_server.services import appearance, sites

    await migrate_to(scratch_url, None)
    await opened(scratch_url)
    site = await sites.create_site("Shop", ["shop.example"], force=True)
    assert site.appearance is None  # the default look
    await appearance.edit_appearance(site, {"layout": "bar"})
    await Tortoise.close_connections()

    # Back before 0013: the column and the logos go, the site's purposes stay (a table
    # rebuild of `site` on SQLite would have deleted them).
    before = importlib.import_module("cmp_server.migrations.0013_banner_appearance")
    await migrate_to(scratch_url, ".".join(before.Migration.dependencies[0]))
    await opened(scratch_url)
    conn = Tortoise.get_connection("default")
    rows = await conn.execute_query_dict('SELECT COUNT(*) AS n FROM "purpose"')
    assert rows[0]["n"] == 4
    await Tortoise.close_connections()

    await migrate_to(scratch_url, None)
    await opened(scratch_url)
    again = await Site.get(key=site.key)
    assert again.appearance is None and await Purpose.filter(site=again).count() == 4
    assert await Logo.all().count() == 0
    await Tortoise.close_connections()


async def test_0021_makes_each_sites_schedule_a_schedule_row_and_back(
    scratch_url: str,
) -> None:
    from cmp_server.models import ScanSchedule

    before = importlib.import_module("cmp_server.migrations.0021_scan_schedules")
    at_0018 = ".".join(before.Migration.dependencies[0])
    await migrate_to(scratch_url, at_0018)
    await opened(scratch_url)
    conn = Tortoise.get_connection("default")
    when = "'2026-01-01 00:00:00'"
    # Three sites in the old form: a weekly schedule that ran on Friday 2 Jan 2026 at 05:20,
    # a 6-hourly one that never ran, a start URL without a schedule, and one with neither.
    await conn.execute_script(f"""
        INSERT INTO site (key, name, domains, languages, default_language,
            consent_lifetime_days, receipt_retention_days, texts, options, created_at,
            updated_at, scan_url, scan_interval_hours)
        VALUES ('weekly', 'W', '["w.example"]', '["en"]', 'en', 180, 1095, '{{}}', '{{}}',
                {when}, {when}, 'https://w.example/start', 168),
               ('often', 'O', '["o.example"]', '["en"]', 'en', 180, 1095, '{{}}', '{{}}',
                {when}, {when}, NULL, 6),
               ('urlonly', 'U', '["u.example"]', '["en"]', 'en', 180, 1095, '{{}}', '{{}}',
                {when}, {when}, 'https://u.example/shop', NULL),
               ('none', 'N', '["n.example"]', '["en"]', 'en', 180, 1095, '{{}}', '{{}}',
                {when}, {when}, NULL, NULL);
        INSERT INTO purpose (site_id, key, required, "order", name, description)
        VALUES ((SELECT id FROM site WHERE key = 'weekly'), 'necessary', true, 0, '{{}}', '{{}}');
        INSERT INTO scan_job (site_id, status, options, requested_by, requested_at, attempts,
            progress)
        VALUES ((SELECT id FROM site WHERE key = 'weekly'), 'done', '{{}}', 'schedule',
                '2026-01-02 05:20:00', 1, '{{}}');
    """)
    await Tortoise.close_connections()

    await migrate_to(scratch_url, None)
    await opened(scratch_url)
    rows = {s.site.key: s for s in await ScanSchedule.all().prefetch_related("site")}
    assert sorted(rows) == ["often", "urlonly", "weekly"]
    weekly = rows["weekly"]
    assert (weekly.start_url, weekly.frequency, weekly.enabled, weekly.max_pages) == (
        "https://w.example/start", "weekly", True, 30)
    assert weekly.passes == ["none", "accept", "reject"] and weekly.extra_urls == []
    # Next when the old schedule would have run: a week after the last scan, and on that
    # weekday and time from then on.
    assert weekly.next_run_at == datetime(2026, 1, 9, 5, 20, tzinfo=UTC)
    assert (weekly.time_of_day, weekly.weekday) == ("05:20", 4)
    often = rows["often"]
    assert (often.start_url, often.frequency, often.enabled) == (None, "every_6_hours", True)
    assert often.next_run_at is not None  # never ran: due at once
    assert (rows["urlonly"].start_url, rows["urlonly"].enabled) == ("https://u.example/shop",
                                                                     False)
    assert rows["urlonly"].next_run_at is None
    columns = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT * FROM site WHERE key = 'weekly'")
    assert "scan_url" not in columns[0] and "scan_interval_hours" not in columns[0]
    assert (await Site.get(key="weekly")).name == "W"
    await Tortoise.close_connections()

    # Back: the columns again, from each site's first schedule; the sites' rows all kept
    # (a rebuild of `site` on SQLite would have deleted their purposes).
    await migrate_to(scratch_url, at_0018)
    await opened(scratch_url)
    conn = Tortoise.get_connection("default")
    back = await conn.execute_query_dict(
        "SELECT key, scan_url, scan_interval_hours FROM site ORDER BY key")
    assert [tuple(r.values()) for r in back] == [
        ("none", None, None), ("often", None, 6), ("urlonly", "https://u.example/shop", None),
        ("weekly", "https://w.example/start", 168)]
    purposes = await conn.execute_query_dict('SELECT COUNT(*) AS n FROM "purpose"')
    assert purposes[0]["n"] == 1
    await Tortoise.close_connections()

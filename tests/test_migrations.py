"""Migrations that rebuild or alter a table keep its rows and the rows that point at it, both
ways, on the suite's database (SQLite or PostgreSQL), in a scratch database of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from tortoise import Tortoise
from tortoise.migrations.api import migrate as migrate_api

from cmp_server import db
from cmp_server.models import InventoryItem, Site, Vendor
from tests import factories

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


async def test_0006_keeps_vendors_and_their_items_and_lets_transfers_be_unknown(
    scratch_url: str,
) -> None:
    await migrate_to(scratch_url, BEFORE_0006)
    await opened(scratch_url)
    site, _ = await factories.published_site()
    gone = await Vendor.create(site=site, key="gone", name="Deleted", transfers_outside_eea=False)
    await gone.delete()
    await Tortoise.close_connections()

    await migrate_to(scratch_url, None)
    await opened(scratch_url)
    google = await Vendor.get(key="google")
    assert google.transfers_outside_eea is True
    linked = await InventoryItem.filter(vendor=google).values_list("name", flat=True)
    assert sorted(linked) == ["_ga", "_ga_"]  # not set to NULL by a table rebuild
    site = await Site.get(id=site.id)
    unknown = await Vendor.create(site=site, key="unknown", name="Found by a scan")
    assert (await Vendor.get(key="unknown")).transfers_outside_eea is None
    assert unknown.id > gone.id  # a deleted vendor's id is not given again
    await Tortoise.close_connections()

    await migrate_to(scratch_url, BEFORE_0006)  # and back: unknown becomes "no"
    await opened(scratch_url)
    rows = await Vendor.all().order_by("key").values_list("key", "transfers_outside_eea")
    assert [(k, bool(t)) for k, t in rows] == [("google", True), ("unknown", False)]
    linked = await InventoryItem.filter(vendor__key="google").values_list("name", flat=True)
    assert sorted(linked) == ["_ga", "_ga_"]
    await Tortoise.close_connections()

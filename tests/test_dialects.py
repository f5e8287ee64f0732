"""What the databases do not do alike (``cmp_server/dialects/``): each statement of the dialect
the suite's database picked, run on that database (SQLite, or PostgreSQL with
CMP_TEST_DATABASE_URL), so that both runs of the suite cover both dialects."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise import connections
from tortoise.transactions import in_transaction

from cmp_server import db
from cmp_server.dialects import add_counts
from cmp_server.models import ConsentDaily
from cmp_server.services.receipt_store import NewReceipt, open_store

from .factories import bulk_receipts, published_site

MONDAY = date(2026, 3, 2)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_each_dialect_adds_its_own_connection_options() -> None:
    sqlite = db.tortoise_config("sqlite:///tmp/x.sqlite3?synchronous=NORMAL")
    # As Tortoise expands the URL, with the engine whose transactions begin IMMEDIATE.
    assert sqlite["connections"]["default"] == {
        "engine": "cmp_server.dialects._sqlite_client",
        "credentials": {"file_path": "/tmp/x.sqlite3", "synchronous": "NORMAL",
                        "journal_mode": "WAL", "journal_size_limit": 16384,
                        "busy_timeout": "5000"},
    }
    postgres = db.tortoise_config("postgres://u@h/d")
    assert postgres["connections"]["default"] == "postgres://u@h/d?maxsize=20"


def test_sqlite_makes_the_folder_of_its_file(tmp_path: Path) -> None:
    db.SQLITE.prepare(f"sqlite://{tmp_path}/a/b/cmp.sqlite3")
    assert (tmp_path / "a" / "b").is_dir()
    db.SQLITE.prepare("sqlite://:memory:")  # no file, no folder
    db.POSTGRES.prepare("postgres://u@h/d")  # the server's


def test_placeholders() -> None:
    assert [db.SQLITE.placeholder(n) for n in (1, 2)] == ["?", "?"]
    assert [db.POSTGRES.placeholder(n) for n in (1, 2)] == ["$1", "$2"]


async def _count_where(condition: str, params: list[Any]) -> int:
    rows = await connections.get("default").execute_query_dict(
        f"SELECT count(*) AS n FROM consent_receipt WHERE {condition}", params
    )
    return int(rows[0]["n"])


async def test_a_purposes_decision_is_found_in_the_json_choices(app: Starlette) -> None:
    site, _ = await published_site()
    await bulk_receipts(site, 4)  # statistics granted on every second one, marketing never
    await bulk_receipts(site, 1, choices={"necessary": True})  # decided on neither
    dialect = db.dialect()
    for purpose, granted, expected in (
        ("statistics", True, 2), ("statistics", False, 2), ("marketing", True, 0),
        ("marketing", False, 4), ("necessary", True, 5), ("unknown", False, 0),
    ):
        params: list[Any] = []

        def bind(value: Any, params: list[Any] = params) -> str:
            params.append(value)
            return dialect.placeholder(len(params))

        condition = dialect.decision(bind, purpose, granted)
        assert await _count_where(condition, params) == expected, (purpose, granted)


async def test_counts_are_added_and_replaced(app: Starlette) -> None:
    site, _ = await published_site()
    dialect = db.dialect()
    conn = connections.get("default")
    first = [(site.id, MONDAY, "custom", "", 2, 0), (site.id, MONDAY, "custom", "stats", 2, 1)]
    await add_counts(dialect, conn, first, replace=False)
    await add_counts(dialect, conn, [(site.id, MONDAY, "custom", "stats", 3, 3)], replace=False)
    stored = ConsentDaily.filter(site_id=site.id).order_by("purpose")
    assert await stored.values_list("purpose", "receipts", "granted") == [
        ("", 2, 0), ("stats", 5, 4)
    ]
    await add_counts(dialect, conn, [(site.id, MONDAY, "custom", "stats", 1, 0)], replace=True)
    assert await stored.values_list("purpose", "receipts", "granted") == [
        ("", 2, 0), ("stats", 1, 0)
    ]
    # More rows than one statement takes go in several.
    many = [(site.id, MONDAY + timedelta(days=d), "gpc", "", 1, 0) for d in range(5001)]
    await add_counts(dialect, conn, many, replace=False)
    assert await ConsentDaily.filter(site_id=site.id, method="gpc").count() == 5001


async def test_the_raw_count_groups_receipts_by_utc_day_method_and_purpose(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    await bulk_receipts(site, 3, at=_at(MONDAY), every=timedelta(hours=1))
    # The last microsecond of Monday (UTC), and the first of Tuesday.
    last = datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC)
    await bulk_receipts(site, 1, at=last, method="gpc", choices={"marketing": False})
    await bulk_receipts(site, 1, at=last + timedelta(microseconds=1), method="gpc")
    await bulk_receipts(site, 1, at=_at(MONDAY - timedelta(days=1)))  # before the range
    await bulk_receipts(other, 1, at=_at(MONDAY))
    # Not a decision: a value that is no boolean is not counted for its purpose.
    await bulk_receipts(site, 1, at=_at(MONDAY), method="withdraw", choices={"odd": "yes"})
    query, values = db.dialect().raw_counts(site.id, MONDAY, MONDAY, "TRUE")
    _, rows = await connections.get("default").execute_query(query, values)
    found = {
        (str(r["day"]), r["method"], r["purpose"]): (int(r["receipts"]), int(r["granted"] or 0))
        for r in rows
    }
    assert {int(r["site_id"]) for r in rows} == {site.id}
    assert found == {
        ("2026-03-02", "custom", ""): (3, 0),
        ("2026-03-02", "custom", "necessary"): (3, 3),
        ("2026-03-02", "custom", "statistics"): (3, 2),
        ("2026-03-02", "custom", "marketing"): (3, 0),
        ("2026-03-02", "gpc", ""): (1, 0),
        ("2026-03-02", "gpc", "marketing"): (1, 0),
        ("2026-03-02", "withdraw", ""): (1, 0),
    }
    # The condition on which receipts count is the caller's.
    query, values = db.dialect().raw_counts(site.id, MONDAY, MONDAY, "FALSE")
    _, rows = await connections.get("default").execute_query(query, values)
    assert list(rows) == []


async def test_a_recount_holds_the_counter_writers_off_until_it_commits(app: Starlette) -> None:
    site, _ = await published_site()
    dialect = db.dialect()
    pool = connections.get("default")  # outside the transaction, as the writer's lanes are
    row = (site.id, MONDAY, "custom", "", 1, 0)
    go = asyncio.Event()

    async def writer() -> None:
        await go.wait()
        await add_counts(dialect, pool, [row], replace=False)

    waiting = asyncio.create_task(writer())
    async with in_transaction() as conn:
        await dialect.lock_counters(conn)
        go.set()
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await add_counts(dialect, conn, [row], replace=True)
    await asyncio.wait_for(waiting, 5)
    assert await ConsentDaily.filter(site_id=site.id).values_list("receipts", flat=True) == [2]


def _row(site_id: int, **fields: Any) -> NewReceipt:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "receipt_id": uuid.uuid4(), "consent_id": uuid.uuid4(), "site_id": site_id,
        "config_version": 1, "texts_hash": "t" * 64, "language": "en",
        "choices": {"statistics": True}, "method": "custom", "layer": "second",
        "page_url": "https://shop.example/", "recorded_at": now,
        "expires_at": now + timedelta(days=180), "user_agent": "ua", "ip_truncated": None,
        "previous_receipt_id": None, "content_hash": "c" * 64, "record_hash": "r" * 64,
        **fields,
    }
    return NewReceipt(**values)


async def test_the_receipt_store_inserts_only_on_the_expected_chain(app: Starlette) -> None:
    site, _ = await published_site()
    first = _row(site.id)
    second = _row(site.id, consent_id=first.consent_id, previous_receipt_id=first.receipt_id)
    store = open_store()
    try:
        chain = (site.id, first.consent_id)
        assert await store.insert_if_current([first], [first.receipt_id], {chain: None})
        # The visitor has a receipt now: a batch that expects none writes nothing.
        assert not await store.insert_if_current([second], [second.receipt_id], {chain: None})
        assert await store.insert_if_current(
            [second], [second.receipt_id], {chain: first.receipt_id}
        )
        known = await store.known([], [chain])
    finally:
        await store.close()
    assert [k.receipt_id for k in known][-1] == second.receipt_id
    counted = ConsentDaily.filter(site_id=site.id, purpose="statistics")
    assert await counted.values_list("receipts", "granted") == [(2, 2)]


def test_the_dialect_is_the_open_databases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "_opened", None)
    with pytest.raises(RuntimeError, match="no database is open"):
        db.dialect()


def test_the_scan_workers_process_commits_without_waiting_for_the_disk_on_sqlite() -> None:
    # Its write lock is what the server's receipts wait for; an operator's choice stands.
    assert db.worker_url("sqlite:///tmp/x.sqlite3") == "sqlite:///tmp/x.sqlite3?synchronous=NORMAL"
    assert db.worker_url("sqlite:///tmp/x.sqlite3?synchronous=FULL").endswith("=FULL")
    assert db.worker_url("postgres://u@h/d") == "postgres://u@h/d"

"""Consent counters and the analytics read from them (cmp_server/services/counters.py and
analytics.py), on the suite's database: SQLite, or PostgreSQL with CMP_TEST_DATABASE_URL.

The counters are held to two other counts: what the test sent (each receipt id once) and a
GROUP BY over the raw receipts (``counters.raw_counts``)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from tortoise import connections

from cmp_server._utils import utcnow
from cmp_server.errors import InvalidRequest, WriteFailed
from cmp_server.models import ConsentDaily, ConsentReceipt, PurgeLog, Site
from cmp_server.schemas import ReceiptIn
from cmp_server.services import analytics, counters
from cmp_server.services.configs import ConfigCache
from cmp_server.services.receipts import draft_receipt
from cmp_server.services.retention import purge_receipts
from cmp_server.services.writer import ReceiptWriter

from .factories import ORIGIN, published_site, receipt_body

HEADERS = {"Origin": ORIGIN, "Content-Type": "text/plain"}
OPTIONAL = ("preferences", "statistics", "marketing")


def _choices(method: str, rng: random.Random) -> dict[str, bool]:
    optional = {
        "accept_all": dict.fromkeys(OPTIONAL, True),
        "reject_all": dict.fromkeys(OPTIONAL, False),
        "withdraw": dict.fromkeys(OPTIONAL, False),
        "gpc": {"preferences": rng.random() < 0.5, "statistics": rng.random() < 0.5,
                "marketing": False},
    }.get(method) or {k: rng.random() < 0.5 for k in OPTIONAL}
    return {"necessary": True, **optional}


def _bodies(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` receipts of every method; a withdrawal follows its visitor's first receipt."""
    rng = random.Random(seed)
    bodies = []
    for i in range(n):
        method = ("accept_all", "reject_all", "custom", "gpc")[i % 4]
        body = receipt_body(method=method, choices=_choices(method, rng))
        bodies.append(body)
        if i % 5 == 0:
            bodies.append(receipt_body(consent_id=body["consent_id"], method="withdraw",
                                       choices=_choices("withdraw", rng)))
    return bodies


def _expected(bodies: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
    """What the counters must hold, all days together: (method, purpose, receipts|granted)."""
    seen: dict[str, dict[str, Any]] = {}
    for body in bodies:
        seen.setdefault(body["receipt_id"], body)
    counts: Counter[tuple[str, str, str]] = Counter()
    for body in seen.values():
        counts[(body["method"], "", "receipts")] += 1
        for purpose, granted in body["choices"].items():
            counts[(body["method"], purpose, "receipts")] += 1
            counts[(body["method"], purpose, "granted")] += granted
    return counts


def _all_days(found: list[counters.Count]) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for c in found:
        counts[(c.method, c.purpose, "receipts")] += c.receipts
        if c.purpose:
            counts[(c.method, c.purpose, "granted")] += c.granted
    return +counts


def _around_today() -> tuple[date, date]:
    today = utcnow().date()
    return today - timedelta(days=1), today + timedelta(days=1)


async def _assert_counted(site: Site, bodies: list[dict[str, Any]]) -> None:
    start, end = _around_today()
    stored = await counters.stored_counts(site, start, end)
    assert stored == await counters.raw_counts(site, start, end)
    assert _all_days(stored) == +_expected(bodies)


async def _post(client: httpx.AsyncClient, site: Site, body: dict[str, Any]) -> httpx.Response:
    return await client.post(
        f"/v1/sites/{site.key}/consents", content=orjson.dumps(body), headers=HEADERS
    )


async def test_counters_equal_the_raw_count_after_a_concurrent_burst(
    client: httpx.AsyncClient,
) -> None:
    # Through the public API and, at the same time, a second writer (another server process:
    # on PostgreSQL its own connection, adding to the same counter rows). Every receipt is
    # sent twice, some of them at the same moment; withdrawals follow their visitor's first
    # receipt; some visitors get receipts through both writers at once (the chain moves under
    # one of them, which plans again).
    site, _ = await published_site()
    published = await ConfigCache(ttl=60).version(site.key, 1)
    bodies = _bodies(240)
    shared = [receipt_body(consent_id=bodies[i]["consent_id"], method="custom")
              for i in range(0, 40, 4)]
    other = ReceiptWriter(lanes=2)
    await other.start()

    async def direct(body: dict[str, Any]) -> None:
        draft = draft_receipt(ReceiptIn.model_validate(body), published, user_agent="t",
                              client_ip=None)
        for _ in range(5):  # as the embed does: a retryable failure is sent again
            try:
                await other.submit(draft)
                return
            except WriteFailed:
                await asyncio.sleep(0.01)
        raise AssertionError("a receipt was refused five times")

    async def api(body: dict[str, Any]) -> None:
        for _ in range(5):  # 503: the chain moved under the lane three times; send again
            if (response := await _post(client, site, body)).status_code != 503:
                assert response.status_code == 201, response.text
                return
            await asyncio.sleep(0.01)
        raise AssertionError("a receipt was refused five times")

    async def visitor(chain: list[dict[str, Any]], via_api: bool) -> None:
        for body in chain:  # a visitor's receipts in order, each sent twice at once
            if via_api:
                await asyncio.gather(api(body), api(body))
            else:
                await asyncio.gather(direct(body), direct(body))

    chains: dict[str, list[dict[str, Any]]] = {}
    for body in bodies:
        chains.setdefault(body["consent_id"], []).append(body)
    try:
        await asyncio.gather(
            *(visitor(chain, n % 2 == 0) for n, chain in enumerate(chains.values())),
            *(direct(body) for body in shared),
        )
        # Sent once more, later: an idempotent retry counts nothing.
        for body in bodies[:10]:
            assert (await _post(client, site, body)).status_code == 201
    finally:
        await other.stop()
    sent = bodies + shared
    assert await ConsentReceipt.filter(site_id=site.id).count() == len(sent)
    await _assert_counted(site, sent)


async def _poison(is_postgres: bool) -> None:
    conn = connections.get("default")
    if is_postgres:
        await conn.execute_script(
            "ALTER TABLE consent_receipt ADD CONSTRAINT test_poison_counts "
            "CHECK (page_url NOT LIKE '%poison%') NOT VALID"
        )
    else:
        await conn.execute_script(
            "CREATE TRIGGER test_poison_counts BEFORE INSERT ON consent_receipt "
            "WHEN NEW.page_url LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END;"
        )


async def _cure(is_postgres: bool) -> None:
    conn = connections.get("default")
    if is_postgres:
        await conn.execute_script("ALTER TABLE consent_receipt DROP CONSTRAINT test_poison_counts")
    else:
        await conn.execute_script("DROP TRIGGER test_poison_counts")


async def test_a_refused_receipt_is_not_counted_and_its_neighbours_are(
    app: Starlette, is_postgres: bool
) -> None:
    site, _ = await published_site()
    published = await ConfigCache(ttl=60).version(site.key, 1)
    bodies = _bodies(16)
    poisoned = receipt_body(method="accept_all", choices=_choices("accept_all", random.Random()),
                            page_url="https://www.shop.example/poison")
    writer = ReceiptWriter()
    await writer.start()
    await _poison(is_postgres)
    try:
        outcomes = await asyncio.gather(
            *(writer.submit(draft_receipt(ReceiptIn.model_validate(b), published,
                                          user_agent="", client_ip=None))
              for b in [*bodies[:8], poisoned, *bodies[8:]]),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
        await _cure(is_postgres)
    assert sum(isinstance(o, Exception) for o in outcomes) == 1
    await _assert_counted(site, bodies)


# ------------------------------------------------------------------- receipts on chosen days


async def _receipts_on(site: Site, *days: tuple[datetime, str, dict[str, bool]]) -> None:
    """Receipts recorded at chosen moments, written as the writer would have, but for the
    counters: those come from a recount."""
    await ConsentReceipt.bulk_create([
        ConsentReceipt(
            receipt_id=uuid.uuid4(), consent_id=uuid.uuid4(), site=site, config_version=1,
            texts_hash="t" * 64, language="en", choices=choices, method=method, layer="first",
            page_url="https://shop.example/", recorded_at=at,
            expires_at=at + timedelta(days=180), user_agent="ua", ip_truncated=None,
            content_hash="c" * 64, record_hash="r" * 64,
        )
        for at, method, choices in days
    ])


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


YES = {"necessary": True, "statistics": True, "marketing": True}
NO = {"necessary": True, "statistics": False, "marketing": False}
MIXED = {"necessary": True, "statistics": True, "marketing": False}


async def test_recount_builds_the_counters_from_the_receipts(app: Starlette) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    monday = date(2026, 3, 2)
    await _receipts_on(
        site,
        (_at(monday, 0), "accept_all", YES),
        # The last microsecond of a UTC day, and the first of the next.
        (datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC), "reject_all", NO),
        (datetime(2026, 3, 3, 0, 0, tzinfo=UTC), "custom", MIXED),
        (_at(monday + timedelta(days=20)), "gpc", MIXED),
    )
    await _receipts_on(other, (_at(monday), "accept_all", YES))
    result = await counters.recount(site)
    assert (result.receipts, result.start, result.end) == (4, monday, utcnow().date())
    stored = await counters.stored_counts(site, monday, monday + timedelta(days=30))
    assert stored == await counters.raw_counts(site, monday, monday + timedelta(days=30))
    assert {(c.day, c.method, c.purpose): (c.receipts, c.granted) for c in stored} == {
        (monday, "accept_all", ""): (1, 0),
        (monday, "accept_all", "necessary"): (1, 1),
        (monday, "accept_all", "statistics"): (1, 1),
        (monday, "accept_all", "marketing"): (1, 1),
        (monday, "reject_all", ""): (1, 0),
        (monday, "reject_all", "necessary"): (1, 1),
        (monday, "reject_all", "statistics"): (1, 0),
        (monday, "reject_all", "marketing"): (1, 0),
        (date(2026, 3, 3), "custom", ""): (1, 0),
        (date(2026, 3, 3), "custom", "necessary"): (1, 1),
        (date(2026, 3, 3), "custom", "statistics"): (1, 1),
        (date(2026, 3, 3), "custom", "marketing"): (1, 0),
        (date(2026, 3, 22), "gpc", ""): (1, 0),
        (date(2026, 3, 22), "gpc", "necessary"): (1, 1),
        (date(2026, 3, 22), "gpc", "statistics"): (1, 1),
        (date(2026, 3, 22), "gpc", "marketing"): (1, 0),
    }
    # Counters gone wrong (or never made, before the counters existed) are made right again,
    # and another site's are left alone.
    ids = dict(await ConsentDaily.filter(site_id=site.id).values_list("day", "id"))
    await ConsentDaily.filter(site_id=site.id, day=monday).update(receipts=99)
    await ConsentDaily.filter(site_id=site.id, day=date(2026, 3, 3)).delete()
    await ConsentDaily.create(site=site, day=monday, method="withdraw", receipts=5)  # no such
    assert await counters.stored_counts(site, monday, date(2026, 3, 31)) != stored
    await counters.recount(site, monday, date(2026, 3, 3), chunk_days=1)
    assert await counters.stored_counts(site, monday, date(2026, 3, 31)) == stored
    assert await ConsentDaily.filter(site_id=other.id).count() == 0
    # Right counters are left as they are (updated in place, never deleted and made again).
    kept = dict(await ConsentDaily.filter(site_id=site.id).values_list("day", "id"))
    assert kept[date(2026, 3, 22)] == ids[date(2026, 3, 22)]
    before = await ConsentDaily.filter(site_id=site.id).order_by("id").values_list("id", flat=True)
    await counters.recount(site)
    after = await ConsentDaily.filter(site_id=site.id).order_by("id").values_list("id", flat=True)
    assert after == before


async def test_the_purge_leaves_the_counters_and_a_recount_keeps_them(
    client: httpx.AsyncClient,
) -> None:
    site, _ = await published_site()
    old = utcnow() - timedelta(days=400)
    await _receipts_on(site, (old, "accept_all", YES), (old, "reject_all", NO))
    await counters.recount(site)
    before = await counters.stored_counts(site, old.date(), old.date())
    assert len(before) == 8
    site.receipt_retention_days = 365
    await site.save()
    await purge_receipts()
    assert await ConsentReceipt.filter(site_id=site.id).count() == 0
    # The chart still has the history; the receipts of the day are gone, their counts stay.
    assert await counters.stored_counts(site, old.date(), old.date()) == before
    await counters.recount(site)
    assert await counters.stored_counts(site, old.date(), old.date()) == before
    with pytest.raises(InvalidRequest, match="purged"):
        await counters.recount(site, old.date(), old.date())
    cutoff = (await PurgeLog.filter(site_id=site.id).first()).cutoff  # type: ignore[union-attr]
    # After the purge boundary, receipts written since are counted as usual.
    body = receipt_body(method="accept_all", choices=dict.fromkeys(
        ("necessary", *OPTIONAL), True))
    assert (await _post(client, site, body)).status_code == 201
    result = await counters.recount(site)
    assert result.start == cutoff.date() + timedelta(days=1)
    await _assert_counted(site, [body])


async def test_outcomes_by_day_and_by_week_over_a_range(app: Starlette) -> None:
    site, _ = await published_site()
    # Thursday 5 March to Wednesday 18 March 2026: weeks 2-8, 9-15, 16-22 March.
    days = [date(2026, 3, d) for d in (4, 5, 8, 9, 15, 16, 18, 19)]
    await _receipts_on(
        site,
        *((_at(d), "accept_all", YES) for d in days),
        (_at(days[1]), "reject_all", NO),
        (_at(days[1]), "reject_all", NO),
        (_at(days[4]), "withdraw", NO),
        (_at(days[6]), "gpc", MIXED),
    )
    await counters.recount(site)
    start, end = date(2026, 3, 5), date(2026, 3, 18)

    by_day = await analytics.outcomes(site, start, end, "day")
    assert [b.start for b in by_day.buckets] == [start + timedelta(i) for i in range(14)]
    assert by_day.buckets[0].counts == {"accept_all": 1, "reject_all": 2, "custom": 0,
                                        "withdraw": 0, "gpc": 0}
    assert [b.total for b in by_day.buckets] == [3, 0, 0, 1, 1, 0, 0, 0, 0, 0, 2, 1, 0, 2]
    assert by_day.totals == {"accept_all": 6, "reject_all": 2, "custom": 0, "withdraw": 1,
                             "gpc": 1}
    assert by_day.total == 10 and by_day.share("reject_all") == 0.2

    by_week = await analytics.outcomes(site, start, end, "week")
    assert [(b.start, b.end) for b in by_week.buckets] == [
        (date(2026, 3, 5), date(2026, 3, 8)),  # the range's part of the week of 2 March
        (date(2026, 3, 9), date(2026, 3, 15)),
        (date(2026, 3, 16), date(2026, 3, 18)),
    ]
    assert [b.total for b in by_week.buckets] == [4, 3, 3]
    assert [b.counts["accept_all"] for b in by_week.buckets] == [2, 2, 2]
    assert by_week.totals == by_day.totals

    rates = await analytics.purpose_rates(site, start, end, "week")
    assert rates.purposes == ("necessary", "statistics", "marketing")
    assert rates.required == {"necessary"}
    assert rates.totals["statistics"] == analytics.Rate(decided=10, granted=7)
    assert rates.totals["marketing"] == analytics.Rate(decided=10, granted=6)
    assert rates.totals["necessary"].rate == 1.0
    assert [b.rates["marketing"].rate for b in rates.buckets] == [0.5, 2 / 3, 2 / 3]

    one_day = await analytics.outcomes(site, date(2026, 3, 4), date(2026, 3, 4), "week")
    assert [(b.start, b.end, b.total) for b in one_day.buckets] == [
        (date(2026, 3, 4), date(2026, 3, 4), 1)]


async def test_nothing_counted_is_zero_and_no_rate(app: Starlette) -> None:
    site, _ = await published_site()
    found = await analytics.outcomes(site, date(2026, 1, 1), date(2026, 1, 31), "week")
    assert found.total == 0 and len(found.buckets) == 5
    assert all(b.total == 0 and b.share("accept_all") is None for b in found.buckets)
    rates = await analytics.purpose_rates(site, date(2026, 1, 1), date(2026, 1, 31))
    # Every purpose of the site, each without a rate.
    assert rates.purposes == ("necessary", "preferences", "statistics", "marketing")
    assert all(r.rate is None for r in rates.totals.values())
    recent = await analytics.recent(site)
    assert (recent.total, recent.accept_rate, recent.reject_rate) == (0, None, None)
    assert (recent.end - recent.start).days == 6
    # A method the counters hold that this version does not know still shows.
    await ConsentDaily.create(site=site, day=date(2026, 1, 2), method="later", receipts=3)
    assert (await analytics.outcomes(site, date(2026, 1, 1), date(2026, 1, 2))).methods == (
        *analytics.METHODS, "later")


async def test_recent_gives_the_last_seven_days_with_accept_and_reject_rates(
    client: httpx.AsyncClient,
) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    today = utcnow().date()
    await _receipts_on(
        site,
        (_at(today - timedelta(days=7)), "accept_all", YES),  # one day too old
        (_at(today - timedelta(days=6)), "reject_all", NO),
        (_at(today - timedelta(days=6)), "gpc", MIXED),
    )
    await counters.recount(site)
    for method in ("accept_all", "accept_all", "custom"):  # today, through the API
        body = receipt_body(method=method, choices=_choices(method, random.Random(1)))
        assert (await _post(client, site, body)).status_code == 201
    recent = await analytics.recent(site, today=today)
    assert recent.total == 5
    assert recent.counts["accept_all"] == 2 and recent.counts["gpc"] == 1
    assert (recent.accept_rate, recent.reject_rate) == (0.4, 0.2)
    everyone = await analytics.recent_by_site(7, today=today)
    assert set(everyone) == {site.id} and everyone[site.id] == recent
    assert (await analytics.recent(other)).total == 0
    with pytest.raises(ValueError):
        await analytics.recent(site, days=0)


def test_week_buckets_are_iso_weeks_clipped_to_the_range() -> None:
    spans = analytics.buckets(date(2026, 12, 30), date(2027, 1, 12), "week")
    assert spans == [
        (date(2026, 12, 30), date(2027, 1, 3)),  # Wednesday to Sunday, across the year
        (date(2027, 1, 4), date(2027, 1, 10)),
        (date(2027, 1, 11), date(2027, 1, 12)),
    ]
    assert analytics.buckets(date(2026, 1, 2), date(2026, 1, 1), "day") == []
    assert len(analytics.buckets(date(2024, 1, 1), date(2024, 12, 31), "day")) == 366


# ------------------------------------------------------------------ a database from before


def _counters_migration() -> tuple[str, str]:
    """This migration's name, and the one before it."""
    import importlib
    import pkgutil

    import cmp_server.migrations as package

    name = next(m.name for m in pkgutil.iter_modules(package.__path__)
                if m.name.endswith("_consent_counters"))
    before = importlib.import_module(f"{package.__name__}.{name}").Migration.dependencies[0]
    return f"models.{name}", ".".join(before)


@pytest.fixture
async def scratch_url(database_url: str, tmp_path: Any) -> Any:
    """An empty database of its own, named after the suite's (PostgreSQL) or a file."""
    from urllib.parse import urlsplit, urlunsplit

    from tortoise import Tortoise

    if not database_url.startswith("postgres"):
        yield f"sqlite://{tmp_path / 'before-counters.sqlite3'}"
        return
    import asyncpg

    parts = urlsplit(database_url)
    name = f"{parts.path.lstrip('/')}_before_counters"
    conn = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        await Tortoise.close_connections()
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.close()


async def test_the_migration_counts_the_receipts_already_stored(scratch_url: str) -> None:
    """Receipts stored, then the schema taken back to before the counters (every later
    migration undone too) and forward again: the migration counts what it finds."""
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate as migrate_api

    from cmp_server import db

    mine, before = _counters_migration()
    await db.open_database(scratch_url, run_migrations=True)
    try:
        site, _ = await published_site()
        other, _ = await published_site("Other", ("other.example",))
        await _receipts_on(
            site,
            (_at(date(2026, 3, 2)), "accept_all", YES),
            (_at(date(2026, 3, 2), 23), "custom", MIXED),
            (_at(date(2026, 3, 3)), "reject_all", NO),
        )
        await _receipts_on(other, (_at(date(2026, 3, 3)), "gpc", MIXED))
    finally:
        await db.close_database()
    for _ in range(2):  # undone and done again: the table goes and comes back, counted again
        await migrate_api(config=db.tortoise_config(scratch_url), target=before)
        await migrate_api(config=db.tortoise_config(scratch_url), target=mine)
        await Tortoise.close_connections()
        await db.open_database(scratch_url, run_migrations=True)  # and the later ones
        try:
            for s, receipts in ((site, 3), (other, 1)):
                stored = await counters.stored_counts(s, date(2026, 3, 1), date(2026, 3, 4))
                assert stored == await counters.raw_counts(s, date(2026, 3, 1),
                                                           date(2026, 3, 4))
                assert sum(c.receipts for c in stored if c.purpose == "") == receipts
            found = await analytics.outcomes(site, date(2026, 3, 2), date(2026, 3, 3))
            assert [b.counts for b in found.buckets] == [
                {"accept_all": 1, "reject_all": 0, "custom": 1, "withdraw": 0, "gpc": 0},
                {"accept_all": 0, "reject_all": 1, "custom": 0, "withdraw": 0, "gpc": 0},
            ]
        finally:
            await db.close_database()

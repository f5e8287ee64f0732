"""Group commit: throughput without loss."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import orjson
import pytest
from starlette.applications import Starlette
from tortoise import connections
from tortoise.exceptions import IntegrityError

from cmp_server.errors import ReceiptRefused, WriteFailed
from cmp_server.models import ConsentReceipt
from cmp_server.schemas import ReceiptIn
from cmp_server.services.configs import ConfigCache
from cmp_server.services.receipt_store import NewReceipt
from cmp_server.services.receipts import draft_receipt
from cmp_server.services.verify import verify_receipts
from cmp_server.services.writer import ReceiptWriter, StoredReceipt, _Chains

from .factories import ORIGIN, published_site, receipt_body

HEADERS = {"Origin": ORIGIN, "Content-Type": "text/plain"}


async def test_500_concurrent_receipts_give_500_rows(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    bodies = [receipt_body() for _ in range(500)]

    async def send(body: dict[str, object]) -> httpx.Response:
        return await client.post(
            f"/v1/sites/{site.key}/consents", content=orjson.dumps(body), headers=HEADERS
        )

    responses = await asyncio.gather(*(send(b) for b in bodies))
    assert [r.status_code for r in responses] == [201] * 500
    acked = {r.json()["receipt_id"] for r in responses}
    assert acked == {b["receipt_id"] for b in bodies}
    stored = {str(x) for x in await ConsentReceipt.all().values_list("receipt_id", flat=True)}
    assert stored == acked
    # Requests that arrived together shared transactions.
    assert app.state.writer.batches < 500


async def test_same_receipt_sent_concurrently_is_one_row(client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    body = receipt_body()
    responses = await asyncio.gather(
        *(
            client.post(
                f"/v1/sites/{site.key}/consents", content=orjson.dumps(body), headers=HEADERS
            )
            for _ in range(20)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert await ConsentReceipt.filter(receipt_id=body["receipt_id"]).count() == 1


async def _poison(is_postgres: bool) -> None:
    conn = connections.get("default")
    if is_postgres:
        await conn.execute_script(
            "ALTER TABLE consent_receipt ADD CONSTRAINT test_poison "
            "CHECK (page_url NOT LIKE '%poison%') NOT VALID"
        )
    else:
        await conn.execute_script(
            "CREATE TRIGGER test_poison BEFORE INSERT ON consent_receipt "
            "WHEN NEW.page_url LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END;"
        )


async def _cure(is_postgres: bool) -> None:
    conn = connections.get("default")
    if is_postgres:
        await conn.execute_script("ALTER TABLE consent_receipt DROP CONSTRAINT test_poison")
    else:
        await conn.execute_script("DROP TRIGGER test_poison")


async def test_a_receipt_the_database_refuses_fails_alone(
    database_url: str, client: httpx.AsyncClient, is_postgres: bool
) -> None:
    # A fault only one receipt of the batch triggers, installed in the database itself.
    site, _ = await published_site()
    published = await ConfigCache(ttl=60).version(site.key, 1)
    bodies = [receipt_body() for _ in range(20)]
    bodies[7] = receipt_body(page_url="https://www.shop.example/poison")
    bodies[12] = receipt_body(consent_id=bodies[11]["consent_id"])  # a chain across halves
    drafts = [
        draft_receipt(ReceiptIn.model_validate(b), published, user_agent="", client_ip=None)
        for b in bodies
    ]
    writer = ReceiptWriter()
    await writer.start()
    await _poison(is_postgres)
    try:
        # Submitted together, so the lane takes them as one batch.
        outcomes = await asyncio.gather(*(writer.submit(d) for d in drafts),
                                        return_exceptions=True)
        assert writer.batches < len(bodies) - 1  # they did share batches
        r = await client.post(  # and over HTTP: a clear 422, not to be sent again
            f"/v1/sites/{site.key}/consents", content=orjson.dumps(bodies[7]), headers=HEADERS
        )
    finally:
        await writer.stop()
        await _cure(is_postgres)
    assert isinstance(outcomes[7], ReceiptRefused)
    assert all(isinstance(o, StoredReceipt) for i, o in enumerate(outcomes) if i != 7), outcomes
    assert r.status_code == 422 and "retry-after" not in r.headers
    assert r.json()["error"] == "receipt_refused"
    stored = {str(x) for x in await ConsentReceipt.all().values_list("receipt_id", flat=True)}
    assert stored == {b["receipt_id"] for i, b in enumerate(bodies) if i != 7}
    assert (await verify_receipts(site)).ok


async def _read_only(is_postgres: bool, database_url: str, on: bool) -> None:
    """Real trouble with the database: it refuses every write (as a standby does)."""
    if not is_postgres:
        await connections.get("default").execute_script(f"PRAGMA query_only = {int(on)}")
        return
    conn = await asyncpg.connect(
        database_url.replace("postgres://", "postgresql://", 1),
        server_settings={"default_transaction_read_only": "off"},  # to turn it off again
    )
    try:
        name = await conn.fetchval("SELECT current_database()")
        await conn.execute(f"ALTER DATABASE {name} SET default_transaction_read_only ="
                           f" {'on' if on else 'off'}")
        # Sessions take it when they start: end the ones open now (the writer's included).
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()


async def test_database_trouble_fails_the_batch_with_a_retryable_status(
    database_url: str, client: httpx.AsyncClient, is_postgres: bool
) -> None:
    site, _ = await published_site()
    published = await ConfigCache(ttl=60).version(site.key, 1)
    body = receipt_body()
    draft = draft_receipt(ReceiptIn.model_validate(body), published, user_agent="",
                          client_ip=None)
    writer = ReceiptWriter()
    await writer.start()
    await _read_only(is_postgres, database_url, True)
    try:
        with pytest.raises(WriteFailed):
            await writer.submit(draft)
    finally:
        await _read_only(is_postgres, database_url, False)
    try:
        # The database is back: the same lane, on a new connection, stores it once.
        stored = await writer.submit(draft)
    finally:
        await writer.stop()
    assert await ConsentReceipt.filter(receipt_id=body["receipt_id"]).count() == 1
    assert str(stored.receipt_id) == body["receipt_id"]


async def test_two_writers_keep_one_visitors_chain(client: httpx.AsyncClient) -> None:
    # Two server processes (here the app's writer and a second one) may each get receipts of
    # the same visitor. Each lane remembers the last receipt it wrote; the store checks that
    # guess at insert, so a receipt the other wrote in between is still the one linked to.
    site, _ = await published_site()
    published = await ConfigCache(ttl=60).version(site.key, 1)
    other = ReceiptWriter(lanes=2)
    await other.start()
    consent = str(uuid.uuid4())
    sent = []
    try:
        for i in range(6):
            body = receipt_body(consent_id=consent)
            if i % 2 == 0:
                r = await client.post(
                    f"/v1/sites/{site.key}/consents", content=orjson.dumps(body), headers=HEADERS
                )
                assert r.status_code == 201
            else:
                receipt = ReceiptIn.model_validate(body)
                await other.submit(draft_receipt(receipt, published, user_agent="", client_ip=None))
            sent.append(body["receipt_id"])
    finally:
        await other.stop()
    rows = await ConsentReceipt.filter(consent_id=consent).order_by("id")
    assert [str(r.receipt_id) for r in rows] == sent
    assert [r.previous_receipt_id for r in rows] == [None, *(r.receipt_id for r in rows[:-1])]
    assert (await verify_receipts(site)).ok


def test_chain_cache_forgets_the_visitor_written_longest_ago() -> None:
    def row(consent_id: uuid.UUID, record_hash: str) -> NewReceipt:
        now = datetime.now(UTC)
        return NewReceipt(
            receipt_id=uuid.uuid4(), consent_id=consent_id, site_id=1, config_version=1,
            texts_hash="t", language="en", choices={}, method="custom", layer="first",
            page_url="https://x.example/", recorded_at=now, expires_at=now, user_agent="",
            ip_truncated=None, previous_receipt_id=None, content_hash="c",
            record_hash=record_hash,
        )

    a, b, c, d = (uuid.uuid4() for _ in range(4))
    chains = _Chains(size=3)
    chains.remember([row(a, "a1"), row(b, "b1"), row(c, "c1")])
    chains.remember([row(a, "a2")])  # a written again: now the newest
    chains.remember([row(d, "d1")])
    assert len(chains) == 3
    assert chains.get((1, b)) is None
    assert [(chains.get((1, k)) or (None, None))[1] for k in (a, c, d)] == ["a2", "c1", "d1"]
    assert chains.get((2, a)) is None  # a chain is per site
    for _ in range(5):  # evicting many in a row keeps the bound
        chains.remember([row(uuid.uuid4(), "x") for _ in range(4)])
        assert len(chains) == 3
    assert chains.get((1, a)) is None


async def test_the_database_refuses_a_second_chain_for_a_visitor(
    client: httpx.AsyncClient,
) -> None:
    site, _ = await published_site()
    consent = str(uuid.uuid4())
    for _ in range(2):
        r = await client.post(
            f"/v1/sites/{site.key}/consents",
            content=orjson.dumps(receipt_body(consent_id=consent)),
            headers=HEADERS,
        )
        assert r.status_code == 201
    first, second = await ConsentReceipt.filter(consent_id=consent).order_by("id")
    fields = {
        f: getattr(second, f)
        for f in ("consent_id", "site_id", "config_version", "texts_hash", "language",
                  "choices", "method", "layer", "page_url", "recorded_at", "expires_at",
                  "user_agent", "ip_truncated", "content_hash", "record_hash")
    }
    with pytest.raises(IntegrityError):  # a second receipt without a predecessor
        await ConsentReceipt.create(**fields, receipt_id=uuid.uuid4(), previous_receipt_id=None)
    with pytest.raises(IntegrityError):  # a second successor of the first receipt
        await ConsentReceipt.create(
            **fields, receipt_id=uuid.uuid4(), previous_receipt_id=first.receipt_id
        )
    assert await ConsentReceipt.filter(consent_id=consent).count() == 2


async def test_writers_racing_for_one_visitor_make_one_chain(client: httpx.AsyncClient) -> None:
    # Two server processes (two writers here, each with its own connection on PostgreSQL)
    # get receipts of the same visitor at the same moment, round after round.
    site, _ = await published_site()
    published = await ConfigCache(ttl=60).version(site.key, 1)
    writers = [ReceiptWriter(), ReceiptWriter()]
    for writer in writers:
        await writer.start()
    consent = str(uuid.uuid4())

    async def send(writer: ReceiptWriter, body: dict[str, object]) -> None:
        draft = draft_receipt(ReceiptIn.model_validate(body), published, user_agent="",
                              client_ip=None)
        for _ in range(5):  # as the embed does: a retryable failure is sent again
            try:
                await writer.submit(draft)
                return
            except WriteFailed:
                await asyncio.sleep(0.01)
        raise AssertionError("a receipt was refused five times")

    try:
        for _ in range(20):
            await asyncio.gather(*(send(w, receipt_body(consent_id=consent)) for w in writers))
    finally:
        for writer in writers:
            await writer.stop()
    rows = await ConsentReceipt.filter(consent_id=consent).order_by("id")
    assert len(rows) == 40
    assert [r.previous_receipt_id for r in rows] == [None, *(r.receipt_id for r in rows[:-1])]
    assert (await verify_receipts(site)).ok

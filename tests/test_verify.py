"""Append-only receipts and their hash chains."""

from __future__ import annotations

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from tortoise import connections
from tortoise.exceptions import BaseORMException

from cmp_server.models import ConsentReceipt
from cmp_server.services.retention import purge_receipts
from cmp_server.services.sites import update_site
from cmp_server.services.verify import verify_receipts

from .factories import ORIGIN, published_site, receipt_body

HEADERS = {"Origin": ORIGIN, "Content-Type": "text/plain"}


async def _chain(client: httpx.AsyncClient, key: str, n: int) -> list[dict[str, object]]:
    first = receipt_body()
    bodies = [first] + [receipt_body(consent_id=first["consent_id"]) for _ in range(n - 1)]
    for body in bodies:
        r = await client.post(
            f"/v1/sites/{key}/consents", content=orjson.dumps(body), headers=HEADERS
        )
        assert r.status_code == 201
    return bodies


async def test_the_database_refuses_to_update_a_receipt(client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    body = (await _chain(client, site.key, 1))[0]
    with pytest.raises(BaseORMException, match="append-only"):
        await ConsentReceipt.filter(receipt_id=body["receipt_id"]).update(method="accept_all")
    row = await ConsentReceipt.get(receipt_id=body["receipt_id"])
    assert row.method == "custom"


async def test_untouched_chains_verify(client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    await _chain(client, site.key, 3)
    await _chain(client, site.key, 2)
    result = await verify_receipts(site, page_size=2)
    assert result.ok, result.problems
    assert (result.checked, result.chains) == (5, 2)


async def test_an_altered_receipt_is_found(client: httpx.AsyncClient, is_postgres: bool) -> None:
    site, _ = await published_site()
    bodies = await _chain(client, site.key, 3)
    conn = connections.get("default")
    # Someone with database access drops the guard and rewrites a refusal into consent.
    if is_postgres:
        await conn.execute_script(
            "ALTER TABLE consent_receipt DISABLE TRIGGER consent_receipt_append_only"
        )
    else:
        await conn.execute_script("DROP TRIGGER consent_receipt_append_only")
    choices = '{"necessary":true,"preferences":true,"statistics":true,"marketing":true}'
    await conn.execute_query(
        "UPDATE consent_receipt SET choices = "
        + ("$1" if is_postgres else "?")
        + " WHERE receipt_id = "
        + ("$2" if is_postgres else "?"),
        [choices, bodies[1]["receipt_id"]],
    )
    result = await verify_receipts(site)
    assert [str(p.receipt_id) for p in result.problems] == [bodies[1]["receipt_id"]]
    assert "record hash" in result.problems[0].reason
    if is_postgres:
        await conn.execute_script(
            "ALTER TABLE consent_receipt ENABLE TRIGGER consent_receipt_append_only"
        )
    else:
        await conn.execute_script(
            "CREATE TRIGGER consent_receipt_append_only BEFORE UPDATE ON consent_receipt "
            "BEGIN SELECT RAISE(ABORT, 'consent receipts are append-only'); END;"
        )


async def test_a_chain_cut_by_retention_still_verifies(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    bodies = await _chain(client, site.key, 3)
    conn = connections.get("default")
    await conn.execute_script(
        "DELETE FROM consent_receipt WHERE receipt_id = '" + str(bodies[0]["receipt_id"]) + "'"
    )
    result = await verify_receipts(site)
    assert result.ok and result.checked == 2
    await update_site(site, receipt_retention_days=1)
    assert (await purge_receipts())[0].deleted == 0


async def test_a_visitor_on_two_sites_has_a_chain_on_each(client: httpx.AsyncClient) -> None:
    """A consent id used on A, then B, then A (two sites sharing a parent-domain cookie):
    A's second receipt follows A's first, and both sites' chains verify."""
    site_a, _ = await published_site("A")  # both on shop.example
    site_b, _ = await published_site("B")
    consent = receipt_body()["consent_id"]
    sent = []
    for site in (site_a, site_b, site_a):
        body = receipt_body(consent_id=consent)
        r = await client.post(
            f"/v1/sites/{site.key}/consents", content=orjson.dumps(body), headers=HEADERS
        )
        assert r.status_code == 201, r.text
        sent.append(body["receipt_id"])
    rows = {str(r.receipt_id): r for r in await ConsentReceipt.all()}
    assert rows[sent[0]].previous_receipt_id is None
    assert rows[sent[1]].previous_receipt_id is None  # B's first: nothing of A's
    assert str(rows[sent[2]].previous_receipt_id) == sent[0]
    for site in (site_a, site_b):
        result = await verify_receipts(site)
        assert result.ok, result.problems

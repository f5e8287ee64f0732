"""The server unreachable: the page works, optional purposes stay blocked, receipts wait."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from .banner import banner, poll
from .conftest import Visit
from .factories import BLOCKED, Tag, page
from .servers import CmpServer, HostServer, SwitchProxy, running


@pytest.fixture
def proxy(cmp: CmpServer) -> Iterator[SwitchProxy]:
    p = SwitchProxy(cmp.port)
    with running(p):
        yield p


HOST_SCRIPT = "<script>window.hostReady = true;</script>"


async def test_page_works_without_the_server(visit: Visit, host: HostServer, tag: Tag,
                                             path: str, proxy: SwitchProxy) -> None:
    proxy.down()
    url = host.add(path, page(Tag(proxy.origin, tag.site_key), body=HOST_SCRIPT + BLOCKED))
    await visit.page.goto(url)
    await visit.page.wait_for_load_state("load")
    assert await visit.page.evaluate("window.hostReady") is True
    assert await visit.page.evaluate("window.ran || []") == []
    assert await visit.page.evaluate("typeof window.cmp") == "undefined"


async def test_a_receipt_queued_while_down_arrives_when_back(
    visit: Visit, host: HostServer, tag: Tag, path: str, proxy: SwitchProxy, cmp: CmpServer
) -> None:
    url = host.add(path, page(Tag(proxy.origin, tag.site_key)))
    await visit.page.goto(url)
    await banner(visit.page).wait_for()
    proxy.down()
    await visit.page.get_by_role("button", name="Accept all").click()
    # The choice applies at once on the page even though the server did not answer.
    await visit.page.wait_for_function("(window.ran || []).length === 4")
    key = f"cmp_receipts_{tag.site_key}"
    await visit.page.wait_for_timeout(500)
    queued = await visit.page.evaluate(f"JSON.parse(localStorage.getItem('{key}'))")
    assert [q["body"]["method"] for q in queued] == ["accept_all"]
    assert cmp.receipts(tag.site_key) == []

    proxy.up()
    await visit.page.goto(url)  # the next page view resends it
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    assert row["receipt_id"] == queued[0]["body"]["receipt_id"]
    assert row["method"] == "accept_all"
    await visit.page.wait_for_function(f"localStorage.getItem('{key}') === '[]'")


async def test_a_503_keeps_the_receipt_queued(
    visit: Visit, host: HostServer, tag: Tag, path: str, proxy: SwitchProxy, cmp: CmpServer
) -> None:
    url = host.add(path, page(Tag(proxy.origin, tag.site_key)))
    await visit.page.goto(url)
    await banner(visit.page).wait_for()
    proxy.busy()
    await visit.page.get_by_role("button", name="Reject all").click()
    key = f"cmp_receipts_{tag.site_key}"
    await visit.page.wait_for_timeout(500)
    queued = await visit.page.evaluate(f"JSON.parse(localStorage.getItem('{key}'))")
    assert [q["body"]["method"] for q in queued] == ["reject_all"]
    proxy.up()
    await visit.page.goto(url)
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    assert row["receipt_id"] == queued[0]["body"]["receipt_id"]


async def test_a_refused_receipt_is_dropped_not_retried(
    visit: Visit, host: HostServer, tag: Tag, path: str, cmp: CmpServer
) -> None:
    url = host.add(path, page(tag))
    await visit.page.goto(url)
    key = f"cmp_receipts_{tag.site_key}"
    # A returning visitor: queued receipts are resent on page views that carry the consent
    # cookie (a receipt is only ever queued after its choice's cookie is written).
    await visit.page.evaluate("window.cmp.rejectAll()")
    [first] = await cmp.wait_receipts(tag.site_key, 1)
    await poll(visit.page, f"localStorage.getItem('{key}') === '[]'")
    # A queued receipt the server refuses (422: the choices miss purposes), next to a good one.
    base = {"consent_id": str(uuid.uuid4()), "config_version": 1, "method": "custom",
            "layer": "first", "language": "en", "page_url": url}
    bad = {**base, "receipt_id": str(uuid.uuid4()), "choices": {"necessary": True}}
    good = {**base, "receipt_id": str(uuid.uuid4()),
            "choices": {"necessary": True, "preferences": False, "statistics": True,
                        "marketing": False}}
    await visit.page.evaluate(
        "([key, bodies]) => localStorage.setItem(key, JSON.stringify("
        "bodies.map((body) => ({queued_at: Date.now(), body}))))",
        [key, [bad, good]],
    )
    async with visit.page.expect_response(lambda r: r.request.method == "POST" and r.status == 422):
        await visit.page.goto(url)
    await poll(visit.page, f"localStorage.getItem('{key}') === '[]'")
    assert await visit.page.evaluate(f"localStorage.getItem('{key}')") == "[]"
    rows = await cmp.wait_receipts(tag.site_key, 2)
    assert [r["receipt_id"] for r in rows] == [first["receipt_id"], good["receipt_id"]]

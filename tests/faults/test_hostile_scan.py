"""A hostile scanned page, while receipts are posted (issue 20, 1).

A page wrote 5,000 localStorage and 5,000 sessionStorage keys; storing its scan held SQLite's
one connection for minutes and every consent POST timed out. Now the scanner records up to
its limits and says what it left out; a report as big as that one, stored anyway, is written
in short transactions that receipts go between; and its admin page shows a page of each list.

"Nobody waited behind the whole store" is measured by structure, not by time: the store
counts its transactions (``on_batch``), and each receipt notes that count when it is sent and
when it is acknowledged.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from cmp_server import db
from cmp_server.models import ConsentReceipt, InventoryItem, Scan, ScanJob, Site
from cmp_server.services import scans
from cmp_server.services.scan_findings import PAGE_SIZE
from cmp_server.services.scan_inventory import BATCH_ROWS
from cmp_server.services.scan_results import store_scan
from cmp_server.settings import Settings
from cmp_server.worker import ScanWorker, scan_limits
from scanner import ReportItem, ScanReport, TrackerRequest
from tests.admin._client import sign_in
from tests.factories import ORIGIN, published_site, receipt_body, staff_member
from tests.scanner.fakeweb import FakeWeb, Route

HOSTILE = """<!doctype html><title>Hostile</title><script>
for (let i = 0; i < 5000; i++) {
  localStorage.setItem("ls-" + i, "v");
  sessionStorage.setItem("ss-" + i, "v");
}
</script>"""


@pytest.fixture(scope="module")
def web() -> Iterator[FakeWeb]:
    server = FakeWeb().start()
    server.add("127.0.0.1", "/", Route(HOSTILE))
    yield server
    server.stop()


class Receipts:
    """Posts receipts one after another until stopped, noting for each the store's
    transaction count (``progress()``) when sent and when acknowledged."""

    def __init__(self, client: httpx.AsyncClient, site: Site,
                 progress: Callable[[], int]) -> None:
        self.client, self.site, self.progress = client, site, progress
        self.acknowledged: list[tuple[str, int, int]] = []  # receipt id, sent at, acked at
        self.statuses: list[int] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            body = receipt_body(consent_id=str(uuid.uuid4()))
            sent = self.progress()
            response = await self.client.post(
                f"/v1/sites/{self.site.key}/consents", content=orjson.dumps(body),
                headers={"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8"})
            self.statuses.append(response.status_code)
            if response.status_code == 201:
                self.acknowledged.append((body["receipt_id"], sent, self.progress()))

    async def during(self, work: Awaitable[Any]) -> Any:
        poster = asyncio.create_task(self.run())
        try:
            return await work
        finally:
            self._stop.set()
            await poster

    async def all_stored(self) -> None:
        assert self.statuses and set(self.statuses) == {201}
        ids = [uuid.UUID(r) for r, _, _ in self.acknowledged]
        assert await ConsentReceipt.filter(receipt_id__in=ids).count() == len(ids)


def _item(n: int, kind: str) -> ReportItem:
    return ReportItem(
        kind=kind,  # type: ignore[arg-type]
        name=f"{kind[0]}s-{n}", domain="127.0.0.1", path=None, party="first", vendor=None,
        category="unclassified", passes=("none", "accept", "reject"),
        first_seen_url="https://127.0.0.1/", set_by="script", initiator=None,
        expires_days=None, http_only=None, secure=None, same_site=None,
    )


def _hostile_report(keys: int) -> ScanReport:
    """What a scan without limits made of the hostile page: every key an item."""
    now = datetime.now(UTC)
    items = tuple(_item(n, kind) for kind in ("localStorage", "sessionStorage")
                  for n in range(keys))
    return ScanReport(
        start_url="https://127.0.0.1/", started_at=now, finished_at=now, pages=(),
        items=items, requests=(TrackerRequest(
            host="t.example", vendor=None, category="unclassified", passes=("none",),
            example_url="https://t.example/p"),), violations=(),
        passes=("none", "accept", "reject"),
    )


def _rows(html: str) -> int:
    return len(re.findall(r"<tr\b", html))


@pytest.mark.timeout(240)
async def test_storing_and_viewing_a_huge_report_lets_receipts_through(
    app: Starlette, client: httpx.AsyncClient, settings: Settings,
) -> None:
    site, _ = await published_site()
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    transactions = 0

    def counted() -> None:
        nonlocal transactions
        transactions += 1

    # The size of the defect's scan (5,000 + 5,000 keys, as the scanner without limits
    # reported them), stored without limits: the store itself must hold nothing long.
    report = _hostile_report(5000)
    receipts = Receipts(client, site, lambda: transactions)
    scan = await receipts.during(store_scan(site, report, on_batch=counted))
    await receipts.all_stored()

    assert await InventoryItem.filter(site=site, name__startswith="ls-").count() == 5000
    # Short transactions: new rows in batches, then the scan row (100 and more in all). The
    # receipts went between them: acknowledged all through the store, never after the whole
    # of it. On SQLite's one connection each waits for at most one batch per database call it
    # makes (the site, its version, the insert: at most 4 with the config cache off, as
    # here); on PostgreSQL they go side by side on connections of their own, and the store's
    # work off the event loop leaves them to run (none spans a tenth of the store).
    assert transactions >= 10_000 // BATCH_ROWS + 1
    during = {acked for _, _, acked in receipts.acknowledged if 0 < acked < transactions}
    assert len(during) >= 10, receipts.acknowledged[:20]
    most = 4 if not db.dialect().concurrent_writers else transactions // 10
    assert max(acked - sent for _, sent, acked in receipts.acknowledged) <= most

    # Viewing it: a page of each list, while receipts go on.
    viewer = Receipts(client, site, lambda: transactions)
    page = await viewer.during(client.get(f"/admin/sites/{site.key}/scans/{scan.id}"))
    await viewer.all_stored()
    assert page.status_code == 200
    assert _rows(page.text) <= 6 * (PAGE_SIZE + 1)
    assert "Page 1 of 200" in page.text  # 10,000 items, 50 a page
    later = await client.get(f"/admin/sites/{site.key}/scans/{scan.id}?items=200")
    assert later.status_code == 200 and "Page 200 of 200" in later.text
    assert len(page.text) < 400_000
    # The dashboard and the blocking rules read the same scan without a 5xx.
    assert (await client.get("/admin/")).status_code == 200
    assert (await client.get(f"/admin/sites/{site.key}/blocking")).status_code == 200

    # With the server's limits (as the worker stores), the same report is cut, and says so.
    limits = scan_limits(settings)
    cut = await store_scan(site, report, limits=limits)
    stored = ScanReport.model_validate_json((await Scan.get(id=cut.id)).report)
    assert len(stored.items) == limits.items_per_pass * 3
    (hit,) = [h for h in stored.limits if h.limit == "items_per_pass"]
    assert hit.left_out == 10_000 - limits.items_per_pass * 3


@pytest.mark.browser
@pytest.mark.timeout(240)
async def test_a_hostile_page_scanned_by_the_worker_while_receipts_are_posted(
    app: Starlette, client: httpx.AsyncClient, settings: Settings, web: FakeWeb,
) -> None:
    site, _ = await published_site()
    allowed = settings.model_copy(update={"allow_private_scan_targets": True})
    job = await scans.request_scan(
        site, start_url=web.url("127.0.0.1", "/"), max_pages=1, allow_private=True,
        extra={"browser_args": list(web.browser_args), "ignore_https_errors": True,
               "settle": 0.3, "idle_timeout": 0.5, "consent_timeout": 0.5},
    )
    receipts = Receipts(client, site, lambda: 0)
    assert await receipts.during(ScanWorker(allowed, poll=0.1).run_once())
    await receipts.all_stored()

    job = await ScanJob.get(id=job.id)
    assert job.status == "done", job.error
    scan = await Scan.get(job_id=job.id)
    report = ScanReport.model_validate_json(scan.report)
    limits = scan_limits(allowed)
    # 10,000 keys on the page; the scan kept the limit of them, per pass, and said so.
    storage = [i for i in report.items if i.kind in ("localStorage", "sessionStorage")]
    assert len(storage) == limits.storage_keys_per_origin
    hits = [h for h in report.limits if h.limit == "storage_keys_per_origin"]
    assert {h.pass_ for h in hits} == {"none", "accept", "reject"}
    assert all(h.left_out == 10_000 - limits.storage_keys_per_origin for h in hits)
    assert await InventoryItem.filter(site=site, source="scan").count() == len(report.items)

    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    viewer = Receipts(client, site, lambda: 0)
    page = await viewer.during(client.get(f"/admin/sites/{site.key}/scans/{scan.id}"))
    await viewer.all_stored()
    assert page.status_code == 200
    assert "Limits reached" in page.text and "9,800 names" in page.text

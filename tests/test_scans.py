"""Scans in the server: the job queue, storing reports, inventory updates, diffs, the worker."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

import pytest
from starlette.applications import Starlette

from cmp_server.errors import InvalidRequest
from cmp_server.models import InventoryItem, Scan, ScanJob, Vendor
from cmp_server.services import scans
from cmp_server.services.scan_results import latest_scan_summary, scan_summary, store_scan
from cmp_server.services.scan_truth import load_inventory
from cmp_server.settings import Settings
from cmp_server.worker import ScanWorker
from scanner import PossibleViolation, ReportItem, ScanReport, Violation
from scanner.kb import KnowledgeBase

from .factories import published_site


def item(
    name: str, category: str = "statistics", vendor: str | None = "google_analytics", **kw: object
) -> ReportItem:
    fields: dict[str, object] = dict(
        kind="cookie",
        name=name,
        domain="shop.example",
        path="/",
        party="first",
        vendor=vendor,
        category=category,
        passes=("accept",),
        first_seen_url="https://shop.example/",
        set_by="script",
        initiator=None,
        expires_days=399.6,
        http_only=False,
        secure=True,
        same_site="Lax",
        description="Tells visitors apart.",
    )
    fields.update(kw)
    return ReportItem.model_validate(fields)


def report(
    *items: ReportItem,
    violations: tuple[Violation, ...] = (),
    review: tuple[PossibleViolation, ...] = (),
) -> ScanReport:
    now = datetime.now(UTC)
    return ScanReport(
        start_url="https://shop.example/",
        started_at=now,
        finished_at=now,
        pages=(),
        items=items,
        requests=(),
        violations=violations,
        review=review,
    )


F = TypeVar("F", Violation, PossibleViolation)


def finding(cls: type[F], name: str, category: str, pass_: str = "none") -> F:
    return cls.model_validate({"pass": pass_, "kind": "cookie", "name": name,
                               "domain": "shop.example", "vendor": None, "category": category,
                               "reason": "seen before consent"})


async def test_private_targets_are_refused_unless_allowed(app: Starlette) -> None:
    site, _ = await published_site()
    for url in (
        "http://127.0.0.1/",
        "http://10.1.2.3/",
        "http://[::1]/",
        "http://169.254.169.254/latest",
    ):
        with pytest.raises(InvalidRequest):
            await scans.request_scan(site, start_url=url)
    job = await scans.request_scan(site, start_url="http://127.0.0.1:9/", allow_private=True)
    assert job.status == "queued" and job.options["start_url"] == "http://127.0.0.1:9/"


async def test_concurrent_claims_never_share_a_job(app: Starlette) -> None:
    for n in range(3):  # one scan of a site runs at a time (test_scan_cancel.py): 3 sites
        site, _ = await published_site(f"Site {n}", (f"site{n}.example",))
        await scans.request_scan(site, start_url="http://127.0.0.1/", allow_private=True)
    claimed = await asyncio.gather(*(scans.claim_job(f"w{i}") for i in range(5)))
    ids = [j.id for j in claimed if j is not None]
    # SQLite has one writer: the claims queue up; PostgreSQL's skip what another holds.
    later = [await scans.claim_job(f"late{i}") for i in range(3)]
    ids += [j.id for j in later if j is not None]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert await scans.claim_job("late") is None


async def test_a_crashed_workers_job_is_claimed_again(app: Starlette) -> None:
    site, _ = await published_site()
    await scans.request_scan(site, start_url="http://127.0.0.1/", allow_private=True)
    job = await scans.claim_job("crashed")
    assert job is not None and job.attempts == 1
    assert await scans.claim_job("other") is None  # still fresh
    await ScanJob.filter(id=job.id).update(
        heartbeat_at=datetime.now(UTC) - scans.STALE_AFTER - timedelta(seconds=1)
    )
    again = await scans.claim_job("other")
    assert again is not None and again.id == job.id
    assert again.claimed_by == "other" and again.attempts == 2


async def test_store_scan_updates_inventory_and_keeps_a_diff(app: Starlette) -> None:
    site, _ = await published_site()  # inventory: _ga, _ga_ (prefix), cmp_consent
    first = await store_scan(
        site, report(item("_ga"), item("_ga_ABC123"), item("mystery", "unclassified", None))
    )
    assert first.diff["previous_scan"] is False
    mystery = await InventoryItem.get(site=site, name="mystery").prefetch_related("purpose")
    assert (
        mystery.purpose is None
        and mystery.review_status == "unreviewed"
        and mystery.source == "scan"
    )
    assert (
        await InventoryItem.filter(site=site, name="_ga_ABC123").count() == 0
    )  # covered by prefix _ga_
    consent = await InventoryItem.get(site=site, name="cmp_consent")
    assert consent.missing_since is not None  # not seen in this scan
    assert first.diff["inventory"] == {"added": 1, "seen": 3, "missing": 1}

    second = await store_scan(
        site,
        report(item("_ga"), item("_hjSessionUser_1", "statistics", "hotjar", duration_days=None)),
    )
    assert second.diff["items_added"] == ["cookie:_hjSessionUser_1@shop.example"]
    assert sorted(second.diff["items_removed"]) == [
        "cookie:_ga_ABC123@shop.example",
        "cookie:mystery@shop.example",
    ]
    hotjar = await InventoryItem.get(site=site, name="_hjSessionUser_1").prefetch_related(
        "purpose", "vendor"
    )
    assert hotjar.purpose is not None and hotjar.purpose.key == "statistics"
    assert hotjar.vendor is not None and hotjar.duration_days == 400
    vendor = await Vendor.get(site=site, key="hotjar")
    assert vendor.name and vendor.name != "hotjar"  # filled in from the knowledge base
    assert await Scan.filter(site=site).count() == 2


async def test_violations_and_possible_violations_stay_apart(app: Starlette) -> None:
    site, _ = await published_site()
    ga = finding(Violation, "_ga", "statistics")
    mystery = finding(PossibleViolation, "mystery", "unclassified")
    first = await store_scan(site, report(
        item("_ga"), item("mystery", "unclassified", None),
        violations=(ga,), review=(mystery,),
    ))
    assert (first.summary["violations"], first.summary["review"]) == (1, 1)
    summary = scan_summary(first, await load_inventory(site.id))
    assert [v.name for v in summary.violations] == ["_ga"]
    assert [v.name for v in summary.review] == ["mystery"]
    assert summary.finding("cookie", "_ga", "shop.example") == "violation"
    assert summary.finding("cookie", "mystery", "shop.example") == "review"
    assert summary.finding("cookie", "other", "shop.example") is None

    again = finding(PossibleViolation, "mystery", "unclassified", "reject")
    second = await store_scan(site, report(
        item("_ga"), item("mystery", "unclassified", None), review=(again,),
    ))
    assert second.diff["violations_removed"] == ["none:cookie:_ga@shop.example"]
    assert second.diff["review_added"] == ["reject:cookie:mystery@shop.example"]
    assert second.diff["review_removed"] == ["none:cookie:mystery@shop.example"]
    latest = await latest_scan_summary(site)
    assert latest is not None and latest.scan_id == second.id and latest.violations == ()


async def test_a_report_stored_before_review_reads_its_unclassified_as_review(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    old = report(item("_ga"), item("mystery", "unclassified", None), violations=(
        finding(Violation, "_ga", "statistics"),
        finding(Violation, "mystery", "unclassified"),
    ))
    scan = await store_scan(site, old)
    summary = scan_summary(scan, await load_inventory(site.id))
    assert ([v.name for v in summary.violations], [v.name for v in summary.review]) == (
        ["_ga"], ["mystery"])
    assert (summary.counts["violations"], summary.counts["review"]) == (1, 1)


async def test_the_sites_own_items_get_the_site_as_vendor(app: Starlette) -> None:
    site, _ = await published_site()
    own = item("shop_sess", "unclassified", "shop.example", attributed_by="first-party",
               vendor_name="shop.example")
    await store_scan(site, report(own))
    row = await InventoryItem.get(site=site, name="shop_sess").prefetch_related("vendor", "purpose")
    assert row.purpose is None and row.review_status == "unreviewed"
    assert row.vendor is not None
    assert (row.vendor.key, row.vendor.name, row.vendor.transfers_outside_eea) == (
        "shop.example", site.name, False)


class _Fixture(BaseHTTPRequestHandler):
    PAGE = b"""<!doctype html><html lang="en"><head><title>Shop</title></head><body>
<h1>Shop</h1><script>document.cookie = "_ga=GA1.1.42.1700000000; path=/; max-age=34560000";</script>
</body></html>"""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path != "/":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Set-Cookie", "sessionid=abc; Path=/; HttpOnly")
        self.end_headers()
        self.wfile.write(self.PAGE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fixture_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fixture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.browser
async def test_a_vendor_without_facts_has_unknown_transfers(app: Starlette) -> None:
    site, _ = await published_site()
    await store_scan(site, report(item("_hjid", "statistics", "hotjar"),
                                  item("_zz", "marketing", "no_such_vendor")))
    unknown = await Vendor.get(site=site, key="no_such_vendor")
    assert unknown.name == "no_such_vendor" and unknown.transfers_outside_eea is None
    facts = KnowledgeBase.builtin().vendor("hotjar")
    assert facts is not None and facts.transfers_outside_eea is not None
    hotjar = await Vendor.get(site=site, key="hotjar")  # facts from the knowledge base
    assert hotjar.transfers_outside_eea is facts.transfers_outside_eea


async def test_worker_runs_a_real_scan_and_stores_it(
    app: Starlette, settings: Settings, fixture_site: str
) -> None:
    site, _ = await published_site()
    job = await scans.request_scan(
        site,
        start_url=fixture_site,
        max_pages=1,
        passes=("none", "accept"),
        allow_private=True,
        extra={"settle": 0.3, "idle_timeout": 1.0, "consent_timeout": 1.0},
    )
    worker = ScanWorker(
        Settings(database_url=settings.database_url, allow_private_scan_targets=True),
        heartbeat_every=0.2,
    )
    assert await worker.run_once() is True
    job = await ScanJob.get(id=job.id)
    assert job.status == "done", job.error
    assert job.progress  # progress was reported while it ran
    scan = await Scan.get(job=job)
    assert scan.summary["violations"] >= 1  # _ga set without consent
    ga = await InventoryItem.get(site=site, name="_ga")
    assert ga.last_seen is not None and ga.missing_since is None
    session = await InventoryItem.get(site=site, name="sessionid")
    assert session.source == "scan" and session.review_status == "unreviewed"
    assert await worker.run_once() is False


def test_a_big_stored_report_reads_back_as_it_was_stored() -> None:
    """Past 500 items (and 200 kB) a stored report's items are validated a slice at a time,
    so that one C call does not hold the interpreter for the whole report: the report read
    is the report stored, item for item, findings and all."""
    from cmp_server.services.scan_results import _parse_report, read_report

    items = tuple(
        item(f"c{i}", "unclassified" if i % 3 else "statistics", None if i % 3 else "ga",
             passes=("none", "accept", "reject") if i % 2 else ("accept",),
             expires_days=i / 7 if i % 5 else None)
        for i in range(1_200)
    )
    stored = report(*items, review=tuple(
        PossibleViolation.model_validate({
            "pass": "none", "kind": "cookie", "name": f"c{i}", "domain": "shop.example",
            "vendor": None, "category": "unclassified", "reason": "unclassified cookie"})
        for i in range(1, 1_200, 2) if i % 3))
    text = stored.model_dump_json()
    assert len(text) > 200_000 and len(stored.items) > 500
    parsed = _parse_report(text)
    assert parsed == ScanReport.model_validate_json(text) == stored
    assert parsed.items[-1].name == "c1199" and len(parsed.items) == 1_200
    assert read_report(Scan(id=1, report=text)) == stored

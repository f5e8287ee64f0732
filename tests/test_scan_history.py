"""A site's scans as staff read them (services/scan_history.py, scan_findings.py) and the
schedule and audit of scan requests (services/scans.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette

from cmp_server.errors import InvalidRequest, NotFound
from cmp_server.models import AuditEntry, InventoryItem, Scan, ScanJob, ScanSchedule, Site
from cmp_server.services import scans, schedules
from cmp_server.services.scan_findings import latest_changes, scan_changes, scan_detail
from cmp_server.services.scan_history import scan_history, scan_overview, scan_run
from cmp_server.services.scan_results import store_scan
from cmp_server.services.staff import Actor
from scanner import Category, PossibleViolation, TrackerRequest, Violation

from .factories import published_site, staff_member
from .test_scans import finding, item, report

LOCAL = "http://127.0.0.1:9/"


async def actor(role: str = "privacy") -> Actor:
    member = await staff_member(role)
    return Actor(member.id, member.email, member.name, member.role, "session", "csrf")


def tracker(host: str, category: Category = "marketing") -> TrackerRequest:
    return TrackerRequest(host=host, vendor="meta", category=category, passes=("none",),
                          example_url=f"https://{host}/tr?id=1", count=2,
                          first_seen_url="https://shop.example/kurser", vendor_name="Meta")


async def queue(site: Site, **kw: object) -> ScanJob:
    return await scans.request_scan(site, start_url=LOCAL, allow_private=True, **kw)  # type: ignore[arg-type]


async def test_history_lists_runs_newest_first_with_progress_counts_and_errors(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    done = await queue(site, max_pages=5, passes=("reject", "none"))
    assert done.options["passes"] == ["none", "reject"]  # none first: it finds the pages
    claimed = await scans.claim_job("w")
    assert claimed is not None and claimed.id == done.id
    stored = await store_scan(site, report(item("_ga")), job=claimed)
    await scans.finish_job(claimed)
    failed = await queue(site)
    claimed = await scans.claim_job("w")
    assert claimed is not None
    await scans.finish_job(claimed, error="cannot start Chromium: gone")
    running = await queue(site, max_pages=10, passes=("none", "accept"))
    claimed = await scans.claim_job("w")
    assert claimed is not None
    await scans.heartbeat(claimed, {"phase": "visit", "pass": "accept", "pages_done": 3,
                                    "pages_total": 4, "url": "https://shop.example/a"})
    queued = await queue(site)
    await queue(other)

    page = await scan_history(site)
    assert [r.job_id for r in page.runs] == [queued.id, running.id, failed.id, done.id]
    assert [r.status for r in page.runs] == ["queued", "running", "failed", "done"]
    assert page.older is None
    now_running = page.runs[1]
    assert now_running.active and (now_running.max_pages, now_running.passes) == (
        10, ("none", "accept"))
    progress = now_running.progress
    assert (progress.pass_, progress.pass_number, progress.passes) == ("accept", 2, 2)
    assert (progress.pages_done, progress.pages_total, progress.percent) == (3, 4, 87)
    # Progress stored before the scanner said its pass number: the second pass of two counts
    # its own pages; the first finds them, against the budget.
    assert progress.line == "pass 2 of 2, 3 of 4 pages"
    assert page.runs[2].error == "cannot start Chromium: gone" and page.runs[2].hint is None
    finished = page.runs[3]
    assert finished.scan_id == stored.id and finished.first
    assert finished.counts["items"] == 1 and finished.changes["items_added"] == 1
    assert (page.runs[0].progress.percent, page.runs[0].progress.passes) == (0, 3)
    await scans.heartbeat(claimed, {"phase": "visit", "pass": "none", "pages_done": 2,
                                    "pages_total": 10, "pass_number": 1, "passes": 2,
                                    "discovering": True})
    assert (await scan_history(site)).runs[1].progress.line == (
        "pass 1 of 2, 2 pages so far (budget 10)")
    await scans.heartbeat(claimed, {"phase": "visit", "pass": "accept", "pages_done": 3,
                                    "pages_total": 4})

    first = await scan_history(site, limit=2)
    assert [r.job_id for r in first.runs] == [queued.id, running.id]
    assert first.older == running.id
    rest = await scan_history(site, before=first.older, limit=2)
    assert [r.job_id for r in rest.runs] == [failed.id, done.id] and rest.older is None

    assert (await scan_run(site, str(running.id))).progress.pages_done == 3
    for bad in ("x", "-1", "1e3", "9" * 40, str(queued.id + 1)):
        with pytest.raises(NotFound):
            await scan_run(site, bad)


async def test_a_scan_stored_without_a_job_is_in_the_history_by_time(app: Starlette) -> None:
    site, _ = await published_site()
    job = await queue(site)
    loose = await store_scan(site, report(item("_ga")))
    await ScanJob.filter(id=job.id).update(requested_at=datetime.now(UTC) - timedelta(days=1))
    runs = (await scan_history(site)).runs
    assert [(r.job_id, r.scan_id) for r in runs] == [(None, loose.id), (job.id, None)]
    assert runs[0].status == "done" and not runs[0].active


async def test_a_private_target_says_which_setting_allows_it(app: Starlette) -> None:
    site, _ = await published_site()
    with pytest.raises(InvalidRequest) as refused:
        await scans.request_scan(site, start_url="http://10.1.2.3/")
    assert "CMP_ALLOW_PRIVATE_SCAN_TARGETS=true" in refused.value.detail
    assert "10.1.2.3" in refused.value.detail
    # Refused at run time (the name resolved elsewhere by then): the job's error carries only
    # the scanner's words; the run says what allows it.
    job = await queue(site)
    await ScanJob.filter(id=job.id).update(
        status="failed", error="intranet.example resolves to non-public address 10.0.0.7")
    run = await scan_run(site, job.id)
    assert run.hint is not None and "CMP_ALLOW_PRIVATE_SCAN_TARGETS=true" in run.hint


async def test_requests_and_schedules_are_audited_scheduled_scans_are_not(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    staff = await actor()
    job = await queue(site, by=staff, max_pages=7)
    assert job.requested_by == staff.email
    entry = await AuditEntry.get(action="scan.request")
    assert (entry.actor, entry.object_id, entry.site_id) == (staff.email, str(job.id), site.id)  # type: ignore[attr-defined]
    assert entry.after is not None and entry.after["max_pages"] == 7

    # A schedule's change is audited (tests/test_schedules.py); the scans it queues are not.
    await Site.filter(id=site.id).update(domains=["127.0.0.1"])
    site = await Site.get(id=site.id)
    await schedules.create_schedule(site, schedules.ScheduleChange(start_url=LOCAL), by=staff,
                                    allow_private=True)
    assert await AuditEntry.filter(action="scan.schedule.create").count() == 1
    await ScanJob.filter(id=job.id).update(status="done")
    queued = await schedules.enqueue_due(allow_private=True,
                                         now=datetime.now(UTC) + timedelta(days=2))
    assert [j.requested_by for j in queued] == ["schedule"]
    assert await AuditEntry.filter(action="scan.request").count() == 1


async def test_overview_for_the_dashboard(app: Starlette) -> None:
    site, _ = await published_site()
    empty = await scan_overview(site)
    assert empty.never_scanned and empty.next_scan_at is None and empty.active is None
    assert (empty.violations, empty.review) == (0, 0)
    job = await queue(site)
    claimed = await scans.claim_job("w")
    assert claimed is not None
    stored = await store_scan(site, report(
        item("_ga"), item("mystery", "unclassified", None),
        violations=(finding(Violation, "_ga", "statistics"),),
        review=(finding(PossibleViolation, "mystery", "unclassified"),),
    ), job=claimed)
    await scans.finish_job(claimed)
    assert job.status == "queued"
    # The next scan is the soonest run of the schedules that are on.
    later = await ScanSchedule.create(site=site, passes=["none"], frequency="weekly",
                                      next_run_at=datetime(2030, 1, 7, 3, tzinfo=UTC))
    await ScanSchedule.create(site=site, passes=["none"], enabled=False,
                              next_run_at=datetime(2029, 1, 1, tzinfo=UTC))
    overview = await scan_overview(await Site.get(id=site.id))
    assert (overview.last_scan_id, overview.violations, overview.review) == (stored.id, 1, 1)
    assert overview.last_scan_at == stored.finished_at
    assert overview.next_scan_at == later.next_run_at and overview.active is None
    await queue(site)
    assert (await scan_overview(site)).active is not None
    # A report stored before "review" existed: its unclassified violations are possible ones.
    await Scan.filter(id=stored.id).update(summary={"items": 2, "violations": 2})
    old = await scan_overview(site)
    assert (old.violations, old.review) == (1, 1)


async def test_changes_new_gone_and_changed_items_with_their_inventory_entries(
    app: Starlette,
) -> None:
    site, _ = await published_site()  # inventory: _ga, _ga_ (prefix), cmp_consent
    first = await store_scan(site, report(
        item("_ga"), item("_ga_ABC", expires_days=400.2), item("old_one"),
        item("fb", "marketing", "meta", party="first"),
        violations=(finding(Violation, "fb", "marketing"),),
    ))
    assert (await scan_changes(site, first.id)).first
    base = report(
        item("_ga", expires_days=399.7),  # read a moment later: no change
        item("_ga_ABC", expires_days=30.0),  # duration
        item("fb", "marketing", "facebook", party="third"),  # vendor and party
        item("_hjid", "statistics", "hotjar"),  # new
    )
    second = await store_scan(site, base.model_copy(update={
        "requests": (tracker("www.facebook.com"),),
        "violations": (finding(Violation, "_hjid", "statistics"),),
    }))
    assert second.diff["items_changed"] == ["cookie:_ga_ABC@shop.example",
                                            "cookie:fb@shop.example"]
    changes = await scan_changes(site, second.id)
    assert not changes.first and changes.previous_scan_id == first.id
    assert [c.item.name for c in changes.new_items] == ["_hjid"]
    hotjar = await InventoryItem.get(site=site, name="_hjid")
    assert changes.new_items[0].inventory_id == hotjar.id
    assert [c.item.name for c in changes.gone_items] == ["old_one"]
    changed = {c.item.name: {f.field: (f.before, f.after) for f in c.fields}
               for c in changes.changed_items}
    assert changed == {
        "_ga_ABC": {"duration_days": (400.2, 30.0)},
        "fb": {"vendor": ("meta", "facebook"), "party": ("first", "third")},
    }
    prefix = await InventoryItem.get(site=site, name="_ga_")  # _ga_ABC counts as _ga_
    assert {c.item.name: c.inventory_id for c in changes.changed_items}["_ga_ABC"] == prefix.id
    assert [r.host for r in changes.new_requests] == ["www.facebook.com"]
    assert [v.name for v in changes.new_violations] == ["_hjid"]
    assert [v.name for v in changes.resolved_violations] == ["fb"]
    assert not changes.empty
    latest = await latest_changes(site)
    assert latest is not None and latest.scan_id == second.id

    # A diff stored before items_changed existed: the changes are read from the reports.
    await Scan.filter(id=second.id).update(diff={
        k: v for k, v in second.diff.items() if k != "items_changed"})
    again = await scan_changes(site, second.id)
    assert [c.item.name for c in again.changed_items] == ["_ga_ABC", "fb"]
    runs = (await scan_history(site)).runs
    assert "items_changed" not in runs[0].changes and runs[0].changes["items_added"] == 1

    other, _ = await published_site("Other", ("other.example",))
    for bad in (str(second.id), "abc", ""):
        with pytest.raises(NotFound):
            await scan_changes(other, bad)


async def test_detail_findings_say_where_and_what_set_them(app: Starlette) -> None:
    site, _ = await published_site()
    script = "https://www.googletagmanager.com/gtag/js?id=G-1"
    ga = item("_ga", initiator=script, first_seen_url="https://shop.example/kurser",
              vendor_name="Google Analytics", passes=("none", "accept"))
    pixel = tracker("www.facebook.com")
    request_violation = Violation.model_validate({
        "pass": "none", "kind": "request", "name": "www.facebook.com",
        "domain": "www.facebook.com", "vendor": "meta", "category": "marketing",
        "reason": "request to a marketing tracker before consent",
        "url": "https://www.facebook.com/tr?id=1"})
    item_violation = finding(Violation, "_ga", "statistics").model_copy(
        update={"url": "https://shop.example/kurser"})
    stored = await store_scan(site, report(
        ga, item("mystery", "unclassified", None, set_by="http", initiator=None),
        violations=(item_violation, request_violation),
        review=(finding(PossibleViolation, "mystery", "unclassified", "reject"),),
    ).model_copy(update={"requests": (pixel,)}))
    detail = await scan_detail(site, str(stored.id))
    assert detail.scan_id == stored.id and detail.job_id is None
    by_name = {f.name: f for f in detail.violations}
    cookie = by_name["_ga"]
    assert (cookie.pass_, cookie.page, cookie.set_by, cookie.source, cookie.vendor) == (
        # The vendor staff chose for _ga (published_site's "Google"), not the knowledge base's.
        "none", "https://shop.example/kurser", "script", script, "Google")
    assert cookie.inventory_id == (await InventoryItem.get(site=site, name="_ga")).id
    beacon = by_name["www.facebook.com"]
    assert (beacon.page, beacon.source, beacon.set_by, beacon.vendor) == (
        "https://shop.example/kurser", "https://www.facebook.com/tr?id=1", None, "Meta")
    (possible,) = detail.review
    assert (possible.name, possible.pass_, possible.set_by, possible.source) == (
        "mystery", "reject", "http", None)
    assert {i.item.name: i.finding for i in detail.items} == {"_ga": "violation",
                                                               "mystery": "review"}
    assert all(i.inventory_id is not None for i in detail.items)
    assert detail.changes.first and detail.failed_pages.rows == ()


async def test_the_start_form_offers_where_the_last_scan_that_ran_started(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    assert await scans.suggested_start_url(site) == "https://shop.example/"
    ran = await queue(site)
    await ScanJob.filter(id=ran.id).update(status="done")
    await scans.request_scan(site, start_url="http://127.0.0.2:9/typo", allow_private=True)
    await ScanJob.filter(site=site, status="queued").update(status="failed")
    assert await scans.suggested_start_url(site) == LOCAL
    await ScanSchedule.create(site=site, start_url="https://www.shop.example/start",
                              passes=["none"])
    assert await scans.suggested_start_url(site) == "https://www.shop.example/start"

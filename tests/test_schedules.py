"""Scan schedules (``cmp_server/services/schedules.py``, issue 22 part 3): when each runs, what
staff may set (pages on the site, a budget that holds them, a pass, a time), audited and
guarded against lost updates, queued once however many workers look (PostgreSQL: at once,
on several connections), and a scheduled job that scans its own pages with its own budget:
real Chromium against pages this test serves."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from starlette.applications import Starlette

from cmp_server.errors import InvalidRequest, NotFound, StaleEdit
from cmp_server.models import AuditEntry, Event, Scan, ScanJob, ScanSchedule, Site
from cmp_server.services import revisions, schedules
from cmp_server.services.schedules import ScheduleChange, next_run
from cmp_server.services.staff import Actor
from cmp_server.settings import Settings
from cmp_server.worker import ScanWorker

from .factories import published_site, staff_member

FAST = {"settle": 0.2, "idle_timeout": 1.0, "consent_timeout": 0.5, "timeout": 10.0}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def local_site(name: str = "Shop", domains: tuple[str, ...] = ("127.0.0.1",)) -> Site:
    site, _ = await published_site(name, domains)
    return site


def test_when_each_frequency_runs_next() -> None:
    def change(**kw: object) -> ScheduleChange:
        return ScheduleChange.model_validate({"time_of_day": "03:30", **kw})

    now = at("2026-03-11 12:00")  # a Wednesday
    assert next_run(change(), now) == at("2026-03-12 03:30")
    assert next_run(change(), at("2026-03-11 03:29")) == at("2026-03-11 03:30")
    assert next_run(change(), at("2026-03-11 03:30")) == at("2026-03-12 03:30")  # strictly after
    assert next_run(change(frequency="every_6_hours"), now) == at("2026-03-11 15:30")
    assert next_run(change(frequency="every_12_hours"), now) == at("2026-03-11 15:30")
    assert next_run(change(frequency="every_12_hours"), at("2026-03-11 16:00")) == at(
        "2026-03-12 03:30")
    assert next_run(change(frequency="weekly", weekday=0), now) == at("2026-03-16 03:30")
    assert next_run(change(frequency="weekly", weekday=2), now) == at("2026-03-18 03:30")
    assert next_run(change(frequency="weekly", weekday=2), at("2026-03-11 01:00")) == at(
        "2026-03-11 03:30")
    assert next_run(change(frequency="monthly", day_of_month=11), now) == at("2026-04-11 03:30")
    assert next_run(change(frequency="monthly", day_of_month=28), now) == at("2026-03-28 03:30")
    assert next_run(change(frequency="monthly", day_of_month=1), at("2026-12-05 00:00")) == at(
        "2027-01-01 03:30")
    assert schedules.describe(change(frequency="weekly", weekday=4)) == (
        "Weekly on Friday at 03:30 UTC")


async def test_a_schedule_is_created_changed_and_deleted_audited_and_versioned(
    app: Starlette,
) -> None:
    site = await local_site()
    staff = await staff_member("privacy")
    by = Actor(id=staff.id, email=staff.email, name="P", role="privacy", session_id="s",
               csrf_token="t")
    made = await schedules.create_schedule(site, ScheduleChange(
        start_url="http://127.0.0.1:9/", extra_urls=("http://127.0.0.1:9/checkout",),
        max_pages=5, passes=("reject", "none"), frequency="weekly", weekday=3,
        time_of_day="04:15"), by=by, allow_private=True)
    assert made.passes == ["none", "reject"]  # in the scanner's order
    assert made.next_run_at is not None and made.next_run_at.weekday() == 3
    assert made.next_run_at.strftime("%H:%M") == "04:15"
    created = await AuditEntry.get(action="scan.schedule.create")
    assert created.actor == staff.email and created.site_id == site.id  # type: ignore[attr-defined]
    assert created.after is not None and created.after["extra_urls"] == [
        "http://127.0.0.1:9/checkout"]
    version = await revisions.stamp(revisions.schedule(site, made.id))
    assert version == created.id

    changed = await schedules.update_schedule(site, made.id, ScheduleChange(
        start_url="http://127.0.0.1:9/", max_pages=9, passes=("accept",), frequency="daily",
        time_of_day="22:00"), version=version, allow_private=True)
    assert (changed.max_pages, changed.passes, changed.extra_urls) == (9, ["accept"], [])
    assert changed.next_run_at is not None and changed.next_run_at.hour == 22
    update = await AuditEntry.get(action="scan.schedule.update")
    assert update.before is not None and update.before["max_pages"] == 5
    # A form read before that change is refused, and nothing of it saved.
    with pytest.raises(StaleEdit):
        await schedules.update_schedule(site, made.id, ScheduleChange(max_pages=2),
                                        version=version, allow_private=True)
    with pytest.raises(StaleEdit):
        await schedules.delete_schedule(site, made.id, version=version)
    assert (await ScanSchedule.get(id=made.id)).max_pages == 9
    # Turned off: no next run; on again: one from now.
    off = await schedules.update_schedule(site, made.id, ScheduleChange(
        start_url="http://127.0.0.1:9/", max_pages=9, passes=("accept",), time_of_day="22:00",
        enabled=False), allow_private=True)
    assert off.next_run_at is None and await schedules.next_scan_at(site) is None

    other = await local_site("Other", ("other.example",))
    with pytest.raises(NotFound):
        await schedules.get_schedule(other, made.id)  # another site's: not there
    await schedules.delete_schedule(site, made.id)
    assert not await ScanSchedule.exists(id=made.id)
    assert await AuditEntry.filter(action__startswith="scan.schedule.").count() == 4


@pytest.mark.parametrize(("given", "field", "words"), [
    ({"start_url": "https://elsewhere.example/"}, "start_url", "not on the site's domains"),
    ({"extra_urls": ("https://evil.example/x",)}, "extra_urls", "not on the site's domains"),
    ({"start_url": "javascript:alert(1)"}, "start_url", "http:// or https://"),
    ({"extra_urls": ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b"), "max_pages": 2},
     "max_pages", "at least 3"),
    ({"start_url": "http://127.0.0.1:9/"}, "start_url", "CMP_ALLOW_PRIVATE_SCAN_TARGETS"),
])
async def test_what_a_schedule_refuses_names_the_field(
    app: Starlette, given: dict[str, object], field: str, words: str
) -> None:
    site = await local_site()
    private_ok = words != "CMP_ALLOW_PRIVATE_SCAN_TARGETS"
    with pytest.raises(InvalidRequest) as refused:
        await schedules.create_schedule(site, ScheduleChange.model_validate(given),
                                        allow_private=private_ok)
    assert refused.value.field == field and words in refused.value.detail
    assert not await ScanSchedule.exists(site=site)


@pytest.mark.parametrize("given", [
    {"passes": ()}, {"passes": ("all",)}, {"max_pages": 0}, {"max_pages": 2001},
    {"time_of_day": "24:00"}, {"time_of_day": "3pm"}, {"weekday": 7}, {"day_of_month": 29},
    {"frequency": "hourly"}, {"extra_urls": tuple(f"http://127.0.0.1/{n}" for n in range(51))},
    {"extra_urls": ("http://127.0.0.1/\x00",)}, {"start_url": "http://x/\nb"},
])
def test_the_change_itself_is_bounded(given: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ScheduleChange.model_validate(given)


async def test_a_due_schedule_is_queued_once_with_its_pages_budget_and_passes(
    app: Starlette,
) -> None:
    site = await local_site(domains=("127.0.0.1", "localhost"))
    made = await schedules.create_schedule(site, ScheduleChange(
        start_url="http://127.0.0.1:9/", extra_urls=("http://localhost:9/landing",),
        all_domains=True, max_pages=4, passes=("none",), time_of_day="03:00"),
        allow_private=True)
    assert made.next_run_at is not None
    assert await schedules.enqueue_due(allow_private=True, now=made.next_run_at -
                                       timedelta(seconds=1)) == []  # not due yet
    due = made.next_run_at + timedelta(minutes=2)
    [job] = await schedules.enqueue_due(allow_private=True, now=due)
    assert job.requested_by == "schedule"
    # Every domain's start page after the start URL, then the extra page; the budget and
    # passes are the schedule's.
    assert job.options == {
        "start_url": "http://127.0.0.1:9/", "max_pages": 4, "passes": ["none"],
        "schedule": made.id,
        "extra_urls": ["https://127.0.0.1/", "https://localhost/", "http://localhost:9/landing"],
    }
    again = await ScanSchedule.get(id=made.id)
    assert again.last_queued_at == due and again.next_run_at == made.next_run_at + timedelta(
        days=1)
    # Due again, but the site's scan is still queued: it waits, then goes once it ended.
    later = again.next_run_at + timedelta(minutes=1)  # type: ignore[operator]
    assert await schedules.enqueue_due(allow_private=True, now=later) == []
    await ScanJob.filter(id=job.id).update(status="done")
    assert len(await schedules.enqueue_due(allow_private=True, now=later)) == 1
    # A schedule turned off queues nothing.
    await ScanJob.filter(site=site).update(status="done")
    await ScanSchedule.filter(id=made.id).update(enabled=False)
    assert await schedules.enqueue_due(allow_private=True, now=later + timedelta(days=9)) == []


async def test_a_refused_page_makes_a_failed_job_and_the_schedule_moves_on(
    app: Starlette,
) -> None:
    site = await local_site()
    # Saved while the operator allowed private targets; now they do not.
    made = await schedules.create_schedule(site, ScheduleChange(
        start_url="http://127.0.0.1:9/"), allow_private=True)
    assert made.next_run_at is not None
    due = made.next_run_at + timedelta(seconds=1)
    assert await schedules.enqueue_due(allow_private=False, now=due) == []
    [failed] = await ScanJob.filter(site=site)
    assert failed.status == "failed" and failed.requested_by == "schedule"
    assert failed.error is not None and "CMP_ALLOW_PRIVATE_SCAN_TARGETS" in failed.error
    assert await Event.filter(site=site, type="scan.failed").count() == 1
    assert await schedules.enqueue_due(allow_private=False, now=due) == []  # not again
    assert await ScanJob.filter(site=site).count() == 1


async def test_workers_looking_at_once_queue_each_due_run_once(app: Starlette) -> None:
    """Four workers look at the same moment (on PostgreSQL: four connections, the rows
    locked with SKIP LOCKED); each of twelve due schedules is queued once. A thirteenth, of
    a site whose other schedule is due at the same time, waits for that one's scan."""
    made = []
    for n in range(12):
        site = await local_site(f"Site {n}", (f"127.0.0.{n + 1}",))
        made.append(await schedules.create_schedule(site, ScheduleChange(
            start_url=f"http://127.0.0.{n + 1}:9/", passes=("none",)), allow_private=True))
    second = await schedules.create_schedule(site, ScheduleChange(
        start_url="http://127.0.0.12:9/other", passes=("none",)), allow_private=True)
    now = max(m.next_run_at for m in made if m.next_run_at) + timedelta(seconds=1)
    looks = await asyncio.gather(*(schedules.enqueue_due(allow_private=True, now=now)
                                   for _ in range(4)))
    queued = [job.options["schedule"] for look in looks for job in look]
    assert len(queued) == 12 and len(set(queued)) == 12  # each once
    assert set(queued) - {m.id for m in made} <= {second.id}  # the site's one or the other
    assert await ScanJob.all().count() == 12
    assert await ScanJob.filter(site=site).count() == 1
    looks = await asyncio.gather(*(schedules.enqueue_due(allow_private=True, now=now)
                                   for _ in range(4)))
    assert looks == [[], [], [], []]


class _Pages(BaseHTTPRequestHandler):
    """``/`` links to ``/linked`` only; ``/hidden`` is linked from nowhere."""

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        pages = {"/": '<a href="/linked">linked</a>', "/linked": "linked page",
                 "/hidden": "a page no link leads to"}
        if self.path not in pages:
            self.send_error(404)
            return
        body = f"<!doctype html><title>{self.path}</title><p>{pages[self.path]}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pages() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def _scheduled_scan(settings: Settings, site: Site, change: ScheduleChange) -> list[str]:
    """Queue the schedule's run, let a worker scan it, and say which pages it visited."""
    made = await schedules.create_schedule(site, change, allow_private=True)
    assert made.next_run_at is not None
    [job] = await schedules.enqueue_due(allow_private=True,
                                        now=made.next_run_at + timedelta(seconds=1))
    await ScanJob.filter(id=job.id).update(options={**job.options, **FAST})  # shorter waits
    worker = ScanWorker(settings.model_copy(update={"allow_private_scan_targets": True}))
    assert await worker.run_once() is True
    done = await ScanJob.get(id=job.id)
    assert done.status == "done", done.error
    scan = await Scan.get(job_id=job.id)
    return sorted({page["url"] for page in json.loads(scan.report)["pages"]})


async def test_a_scheduled_scan_crawls_its_extra_pages_within_its_budget(
    app: Starlette, settings: Settings, pages: str
) -> None:
    site = await local_site(domains=("127.0.0.1", "localhost"))
    # The unlinked page is crawled because the schedule lists it; so is one on the site's
    # other domain.
    port = pages.rsplit(":", 1)[1]
    visited = await _scheduled_scan(settings, site, ScheduleChange(
        start_url=f"{pages}/", extra_urls=(f"{pages}/hidden", f"http://localhost:{port}/hidden"),
        max_pages=10, passes=("none",)))
    assert visited == [f"{pages}/", f"{pages}/hidden", f"{pages}/linked",
                       f"http://localhost:{port}/hidden"]
    # A budget of one page crawls the start page alone, links or not.
    await ScanSchedule.all().delete()
    visited = await _scheduled_scan(settings, site, ScheduleChange(
        start_url=f"{pages}/", max_pages=1, passes=("none",)))
    assert visited == [f"{pages}/"]


async def test_a_page_no_longer_on_the_site_fails_the_run_saying_why(app: Starlette) -> None:
    site = await local_site(domains=("127.0.0.1", "localhost"))
    made = await schedules.create_schedule(site, ScheduleChange(
        start_url="http://127.0.0.1:9/", extra_urls=("http://localhost:9/landing",)),
        allow_private=True)
    await Site.filter(id=site.id).update(domains=["127.0.0.1"])  # localhost dropped since
    assert made.next_run_at is not None
    assert await schedules.enqueue_due(allow_private=True,
                                       now=made.next_run_at + timedelta(seconds=1)) == []
    [failed] = await ScanJob.filter(site=site)
    assert failed.status == "failed" and failed.error is not None
    assert "http://localhost:9/landing is not on the site's domains" in failed.error

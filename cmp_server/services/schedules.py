"""Scan schedules (issue 22, part 3): a site's recurring scans, any number of them, each with
its own pages, page budget, passes and time.

- **Pages**: a start URL (none: the site's first domain), extra pages crawled whether or not
  a link leads to them, and optionally every one of the site's domains' start pages. Each
  page is on one of the site's domains, and they all fit in the page budget.
- **When**: every 6 or 12 hours, daily, weekly (on a weekday) or monthly (on a day 1-28), at
  a time of day in UTC. The row keeps its next run (``next_run_at``); a run missed while no
  worker ran is made once, not once per missed time.
- **Queueing** (``enqueue_due``): the worker looks once a minute. A due schedule is locked
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and moved to its next run in the transaction
  that queues its scan, so two workers never queue one run twice. A site with a scan queued
  or running waits (its row locked while that is looked at, as ``scans.claim_job`` does):
  its due schedule queues once that scan has ended. A page the server may
  not scan (a private address) makes a failed job that says why, and the schedule moves on.

Creating, changing and deleting a schedule are audited (``scan.schedule.*``) and guarded
against lost updates (``revisions.schedule``); the scans a schedule queues are no one's
change and are not.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from tortoise.transactions import in_transaction

from .._utils import utcnow
from ..errors import InvalidRequest, NotFound
from ..models import ScanJob, ScanSchedule, Site
from . import audit, revisions
from .scans import (
    ACTIVE_RUNNING,
    MAX_PAGES,
    SCHEDULE,
    check_target,
    checked_passes,
    scheduled_scan_failed,
)
from .sites import check_url

if TYPE_CHECKING:
    from .staff import Actor

__all__ = [
    "FREQUENCIES",
    "MAX_EXTRA_URLS",
    "MAX_PAGES",
    "WEEKDAYS",
    "ScheduleChange",
    "create_schedule",
    "delete_schedule",
    "describe",
    "enqueue_due",
    "get_schedule",
    "job_urls",
    "list_schedules",
    "next_run",
    "next_scan_at",
    "snapshot",
    "update_schedule",
]

FREQUENCIES = {"every_6_hours": "Every 6 hours", "every_12_hours": "Every 12 hours",
               "daily": "Daily", "weekly": "Weekly", "monthly": "Monthly"}
_STEP = {"every_6_hours": 6, "every_12_hours": 12, "daily": 24}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_EXTRA_URLS = 50
_BATCH = 100  # due schedules looked at per look


class ScheduleChange(BaseModel):
    """A schedule as staff set it. Which pages are on the site, and reachable, the service
    checks (it knows the site)."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    start_url: str | None = Field(default=None, max_length=2000)
    extra_urls: tuple[str, ...] = Field(default=(), max_length=MAX_EXTRA_URLS)
    all_domains: bool = False
    max_pages: int = Field(default=30, ge=1, le=MAX_PAGES)
    passes: tuple[Literal["none", "accept", "reject"], ...] = Field(
        default=("none", "accept", "reject"), min_length=1, max_length=3)
    frequency: Literal["every_6_hours", "every_12_hours", "daily", "weekly", "monthly"] = "daily"
    time_of_day: str = Field(default="03:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    weekday: int = Field(default=0, ge=0, le=6)
    day_of_month: int = Field(default=1, ge=1, le=28)
    enabled: bool = True

    @field_validator("start_url", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("start_url")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 or c == "\x7f" for c in value):
            raise ValueError("must be one line of text, without control characters")
        return value

    @field_validator("extra_urls")
    @classmethod
    def _extra(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        pages = [url.strip() for url in value if url.strip()]
        if any(len(url) > 2000 for url in pages):
            raise ValueError("each page's URL may be at most 2000 characters")
        if any(ord(c) < 32 or c == "\x7f" for url in pages for c in url):
            raise ValueError("one URL a line, without control characters")
        return tuple(dict.fromkeys(pages))


def next_run(change: ScheduleChange | ScanSchedule, after: datetime) -> datetime:
    """The schedule's first time strictly after ``after`` (UTC)."""
    hour, minute = (int(part) for part in change.time_of_day.split(":"))
    at = datetime.combine(after.astimezone(UTC).date(), time(hour, minute), UTC)
    if change.frequency in _STEP:
        at -= timedelta(days=1)
        step = timedelta(hours=_STEP[change.frequency])
        while at <= after:
            at += step
        return at
    if change.frequency == "weekly":
        at += timedelta(days=(change.weekday - at.weekday()) % 7)
        return at if at > after else at + timedelta(days=7)
    at = at.replace(day=change.day_of_month)
    while at <= after:
        year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
        at = at.replace(year=year, month=month)
    return at


def describe(schedule: ScanSchedule | ScheduleChange) -> str:
    """``Weekly on Monday at 03:00 UTC``: when it runs, in words."""
    at = f"{schedule.time_of_day} UTC"
    if schedule.frequency == "weekly":
        return f"Weekly on {WEEKDAYS[schedule.weekday]} at {at}"
    if schedule.frequency == "monthly":
        return f"Monthly on day {schedule.day_of_month} at {at}"
    if schedule.frequency == "daily":
        return f"Daily at {at}"
    return f"{FREQUENCIES[schedule.frequency]} from {at}"


def _on_site(host: str, domains: list[str]) -> bool:
    return any(host == d or host.endswith("." + d) or (d.startswith("www.") and host == d[4:])
               for d in domains)


def _site_url(site: Site, value: str, field: str) -> str:
    url = check_url(value, "a page's URL", path_ok=False, field=field)
    assert url is not None  # not empty: callers pass only pages given
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not _on_site(host, list(site.domains)):
        raise InvalidRequest(
            f"{url} is not on the site's domains ({', '.join(site.domains)}): scheduled scans "
            f"stay on the site (add the domain in the site's settings first)", field=field)
    return url


def job_urls(site: Site, schedule: ScanSchedule | ScheduleChange) -> list[str]:
    """The pages a run visits first: the start URL, each domain's start page (when asked),
    then the extra pages; at most the page budget of them."""
    start = schedule.start_url or f"https://{site.domains[0]}/"
    domains = [f"https://{d}/" for d in site.domains] if schedule.all_domains else []
    urls = list(dict.fromkeys([start, *domains, *schedule.extra_urls]))
    return urls[:schedule.max_pages]


async def _checked(site: Site, change: ScheduleChange, allow_private: bool) -> dict[str, Any]:
    """The row's values from ``change``, each page on the site and one the server may scan."""
    start = _site_url(site, change.start_url, "start_url") if change.start_url else None
    extra = [_site_url(site, url, "extra_urls") for url in change.extra_urls]
    pages = {start or f"https://{site.domains[0]}/": "start_url"}
    for domain in site.domains if change.all_domains else []:
        pages.setdefault(f"https://{domain}/", "all_domains")
    for url in extra:
        pages.setdefault(url, "extra_urls")
    if len(pages) > change.max_pages:
        raise InvalidRequest(
            f"the schedule lists {len(pages)} pages: give it a page budget of at least "
            f"{len(pages)}", field="max_pages")
    for url, field in pages.items():  # now, rather than refused silently at every due time
        await check_target(url, allow_private, field=field)
    return {
        "start_url": start, "extra_urls": extra, "all_domains": change.all_domains,
        "max_pages": change.max_pages, "passes": checked_passes(change.passes),
        "frequency": change.frequency, "time_of_day": change.time_of_day,
        "weekday": change.weekday, "day_of_month": change.day_of_month,
        "enabled": change.enabled,
    }


def snapshot(schedule: ScanSchedule) -> dict[str, Any]:
    """What the audit log keeps of a schedule."""
    return {
        "start_url": schedule.start_url, "extra_urls": list(schedule.extra_urls),
        "all_domains": schedule.all_domains, "max_pages": schedule.max_pages,
        "passes": list(schedule.passes), "frequency": schedule.frequency,
        "time_of_day": schedule.time_of_day, "weekday": schedule.weekday,
        "day_of_month": schedule.day_of_month, "enabled": schedule.enabled,
    }


async def list_schedules(site: Site) -> list[ScanSchedule]:
    return await ScanSchedule.filter(site=site).order_by("id")


async def get_schedule(site: Site, schedule_id: int) -> ScanSchedule:
    schedule = await ScanSchedule.get_or_none(site=site, id=schedule_id)
    if schedule is None:
        raise NotFound(f"no schedule {schedule_id} on this site")
    return schedule


async def create_schedule(site: Site, change: ScheduleChange, *, by: Actor | None = None,
                          allow_private: bool = False) -> ScanSchedule:
    """Add a schedule (audited as ``scan.schedule.create``); its first run is its next time
    from now."""
    values = await _checked(site, change, allow_private)
    async with in_transaction():
        schedule = ScanSchedule(site=site, **values)
        schedule.next_run_at = next_run(change, utcnow()) if change.enabled else None
        await schedule.save()
        entry = await audit.record(by, "scan.schedule.create", "scan_schedule", schedule.id,
                                   site=site, after=snapshot(schedule))
        await revisions.advance(revisions.schedule(site, schedule.id), entry, None)
    return schedule


async def update_schedule(site: Site, schedule_id: int, change: ScheduleChange, *,
                          by: Actor | None = None, version: int | None = None,
                          allow_private: bool = False) -> ScanSchedule:
    """Change a schedule (audited with before and after), over ``version``
    (``revisions.schedule``) when given. A change of when it runs moves its next run."""
    values = await _checked(site, change, allow_private)
    async with in_transaction():
        schedule = await ScanSchedule.select_for_update().get_or_none(site=site, id=schedule_id)
        if schedule is None:
            raise NotFound(f"no schedule {schedule_id} on this site")
        before = snapshot(schedule)
        schedule.update_from_dict(values)
        after = snapshot(schedule)
        if after == before:
            return schedule
        timing = ("frequency", "time_of_day", "weekday", "day_of_month", "enabled")
        if any(before[k] != after[k] for k in timing) or schedule.next_run_at is None:
            schedule.next_run_at = next_run(change, utcnow()) if change.enabled else None
        await schedule.save()
        entry = await audit.record(by, "scan.schedule.update", "scan_schedule", schedule.id,
                                   site=site, before=before, after=after)
        await revisions.advance(revisions.schedule(site, schedule.id), entry, version)
    return schedule


async def delete_schedule(site: Site, schedule_id: int, *, by: Actor | None = None,
                          version: int | None = None) -> None:
    """Remove a schedule (audited); the scans it queued stay in the history."""
    async with in_transaction():
        schedule = await ScanSchedule.select_for_update().get_or_none(site=site, id=schedule_id)
        if schedule is None:
            raise NotFound(f"no schedule {schedule_id} on this site")
        entry = await audit.record(by, "scan.schedule.delete", "scan_schedule", schedule.id,
                                   site=site, before=snapshot(schedule))
        await revisions.advance(revisions.schedule(site, schedule.id), entry, version)
        await schedule.delete()


async def next_scan_at(site: Site) -> datetime | None:
    """When a schedule next queues one of the site's scans (None: no schedule on). A time
    already past means at the worker's next look, after any scan of the site still running."""
    first = await ScanSchedule.filter(site=site, enabled=True, next_run_at__isnull=False
                                      ).order_by("next_run_at").first()
    return first.next_run_at if first is not None else None


async def enqueue_due(*, allow_private: bool = False,
                      now: datetime | None = None) -> list[ScanJob]:
    """Queue a scan for each due schedule whose site has none queued or running; the jobs
    queued. Safe with any number of workers at once."""
    at = now or utcnow()
    due = await (ScanSchedule.filter(enabled=True, next_run_at__lte=at)
                 .order_by("next_run_at", "id").limit(_BATCH).values_list("id", flat=True))
    queued = []
    for schedule_id in due:
        job = await _enqueue(int(schedule_id), at, allow_private)  # type: ignore[call-overload]
        if job is not None and job.status == "queued":
            queued.append(job)
    return queued


async def _enqueue(schedule_id: int, at: datetime, allow_private: bool) -> ScanJob | None:
    found = await ScanSchedule.get_or_none(id=schedule_id).prefetch_related("site")
    if found is None:
        return None
    site: Site = found.site
    urls = job_urls(site, found)
    refused = None
    try:  # before the lock: a name's lookup may take a while
        for url in [found.start_url or "", *found.extra_urls]:
            if url:  # still on the site: its domains may have changed since
                _site_url(site, url, "start_url")
        for url in urls:
            await check_target(url, allow_private)
    except InvalidRequest as exc:
        refused = exc.detail
    async with in_transaction():
        schedule = await (ScanSchedule.filter(id=schedule_id, enabled=True, next_run_at__lte=at)
                          .select_for_update(skip_locked=True).first())
        if schedule is None:  # another worker has it, or queued it already
            return None
        # The site locked while its scans are looked at: another worker queueing another of
        # its schedules waits, then sees this one's job.
        await Site.select_for_update().get(id=site.id)
        if await ScanJob.filter(site_id=site.id, status__in=("queued", *ACTIVE_RUNNING)).exists():
            return None  # stays due: queued once the site's scan has ended
        options: dict[str, Any] = {
            "start_url": urls[0], "max_pages": schedule.max_pages,
            "passes": checked_passes(schedule.passes), "schedule": schedule.id,
        }
        if urls[1:]:
            options["extra_urls"] = urls[1:]
        job = ScanJob(site=site, options=options, requested_by=SCHEDULE)
        if refused is not None:
            job.status, job.error, job.finished_at = "failed", refused, at
        await job.save()
        schedule.next_run_at = next_run(schedule, at)
        schedule.last_queued_at = at
        await schedule.save(update_fields=["next_run_at", "last_queued_at"])
        if refused is not None:
            await scheduled_scan_failed(site, job.id, refused)
    return job

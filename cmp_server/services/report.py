"""The monthly compliance report of a site: consent rates and their trend against the month
before, the inventory's state, the month's scans and what each changed, the versions
published, and whether the proof verifies. Built from the same services as the admin's pages
(``report_render.py`` writes it as HTML and PDF; the workers mail it on the 1st)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tortoise.transactions import in_transaction

from .._utils import utcnow
from ..errors import InvalidRequest
from ..models import ConfigVersion, Event, ScanJob, Site
from . import analytics, events
from .attention import SiteAttention, attention
from .scan_history import ScanRun, scan_run
from .verify import VerifyResult, verify_receipts

__all__ = ["MonthlyReport", "month_of", "monthly_report", "previous_month", "send_due_reports"]


def month_of(text: str | None, today: date | None = None) -> date:
    """``YYYY-MM`` as its first day; none: the last whole month."""
    if not text:
        return previous_month(today or utcnow().date())
    try:
        year, month = text.split("-")
        if len(year) != 4 or len(month) != 2 or not (year + month).isascii():
            raise ValueError(text)
        return date(int(year), int(month), 1)
    except ValueError:
        raise InvalidRequest("give a month as YYYY-MM, like 2026-11", field="month") from None


def previous_month(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def _next_month(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class MonthlyReport:
    site: Site
    month: date  # its first day
    last_day: date
    generated_at: datetime
    outcomes: analytics.Outcomes  # by week
    before: analytics.Outcomes  # the month before: its totals give the trend
    purposes: analytics.PurposeRates
    state: SiteAttention  # the inventory and the last scan, as of now
    scans: list[ScanRun]
    versions: list[ConfigVersion]
    verification: VerifyResult

    def trend(self, method: str) -> float | None:
        """The change in ``method``'s share since the month before, in percentage points."""
        now, then = self.outcomes.share(method), self.before.share(method)
        return None if now is None or then is None else (now - then) * 100


async def monthly_report(site: Site, month: date) -> MonthlyReport:
    first = month.replace(day=1)
    last = _next_month(first) - timedelta(days=1)
    if first > utcnow().date():
        raise InvalidRequest("that month has not begun", field="month")
    before_first = previous_month(first)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    job_ids = await ScanJob.filter(site=site, requested_at__gte=start, requested_at__lt=end
                                   ).order_by("requested_at", "id").limit(100
                                   ).values_list("id", flat=True)
    return MonthlyReport(
        site=site, month=first, last_day=last, generated_at=utcnow(),
        outcomes=await analytics.outcomes(site, first, last, "week"),
        before=await analytics.outcomes(site, before_first, first - timedelta(days=1), "week"),
        purposes=await analytics.purpose_rates(site, first, last, "week"),
        state=(await attention([site]))[0],
        scans=[await scan_run(site, job_id) for job_id in job_ids],
        versions=list(await ConfigVersion.filter(
            site=site, published_at__gte=start, published_at__lt=end).order_by("number")),
        verification=await verify_receipts(site),
    )


async def send_due_reports(now: datetime | None = None) -> int:
    """On the 1st of a month (from the digest hour on), each site's ``report.monthly`` event
    for the month before, once, also with several workers: the site's row is locked while
    its event is looked for and kept. The number of reports queued."""
    at = now or utcnow()
    if at.day != 1 or at.hour < events.DIGEST_HOUR_UTC:
        return 0
    month = previous_month(at.date()).isoformat()[:7]
    queued = 0
    for site_id in await Site.all().values_list("id", flat=True):
        async with in_transaction():
            site = await Site.select_for_update().get(id=site_id)
            this_month = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            if await Event.filter(site=site, type="report.monthly",
                                  created_at__gte=this_month).exists():
                continue
            await events.emit(site, "report.monthly", {
                "month": month, "admin_path": f"/admin/sites/{site.key}/report?month={month}",
            }, now=at)
            queued += 1
    return queued

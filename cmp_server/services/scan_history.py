"""A site's scans as staff read them: the history (queued, running, done and failed), one
run's progress or why it failed, and what the dashboard shows of them.

A run is a scan job and, once it is done, the stored scan (``scan_results.store_scan``);
scans stored without a job are runs too. One scan's findings and its changes since the
previous scan are in ``scan_findings``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from .._utils import plural
from ..errors import NotFound
from ..models import Scan, ScanJob, Site
from .scan_results import load_report, scan_summary
from .scan_truth import SiteInventory, count_findings, judge, load_inventory, stored_sightings
from .scans import PASSES, PRIVATE_TARGETS_SETTING
from .schedules import next_scan_at

__all__ = [
    "HistoryPage",
    "Progress",
    "ScanOverview",
    "ScanRun",
    "parse_id",
    "scan_history",
    "scan_overview",
    "scan_run",
]

# The scanner's PrivateTargetError says "<host> resolves to non-public address <address>": a
# job the worker refused at run time (the name resolved elsewhere by then) carries only that.
_PRIVATE = "resolves to non-public address"
_SUMMARY_FIELDS = ("id", "job_id", "started_at", "finished_at", "summary", "diff")


def parse_id(value: object, what: str) -> int:
    """An id from a URL or a form, or ``NotFound`` (never a 500 for ``/scans/x``)."""
    text = str(value)
    # Past 32 bits is no id either: PostgreSQL's driver refuses to send it (a 500).
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) >= 2**31:
        raise NotFound(f"no {what} {text[:40]!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a running scan is: pass ``pass_number`` of ``passes``, ``pages_done`` of
    ``pages_total`` pages of that pass. In the first pass, which finds the pages,
    ``discovering`` is true and ``pages_total`` is the page budget, not a count."""

    phase: str | None
    pass_: str | None
    pass_number: int
    passes: int
    pages_done: int
    pages_total: int
    url: str | None
    discovering: bool = False

    @property
    def percent(self) -> int:
        """Of the whole scan, every pass counted alike."""
        if self.phase == "inspect" or self.phase == "done":
            return 100
        if not self.passes or not self.pages_total:
            return 0
        done = (self.pass_number - 1) + min(self.pages_done, self.pages_total) / self.pages_total
        return max(0, min(99, int(100 * done / self.passes)))

    @property
    def line(self) -> str:
        """``pass 2 of 3, 1 of 3 pages``; ``pass 1 of 3, 2 pages so far (budget 30)``."""
        if not self.pass_number:
            return "starting"
        head = f"pass {self.pass_number} of {self.passes}"
        if self.discovering:
            found = f"{self.pages_done} page{'' if self.pages_done == 1 else 's'} so far"
            return f"{head}, {found} (budget {self.pages_total})"
        return f"{head}, {self.pages_done} of {plural(self.pages_total, 'page')}"


def _progress(raw: Mapping[str, Any], passes: tuple[str, ...], budget: int | None) -> Progress:
    current = raw.get("pass")

    def count(name: str) -> int:
        value = raw.get(name, 0)
        return value if isinstance(value, int) and value >= 0 else 0

    # The scanner says which pass it is (and of how many); progress stored before it did is
    # placed by the pass's name among the job's passes.
    number = count("pass_number") or (
        passes.index(current) + 1 if current in passes else (1 if raw else 0))
    discovering = raw.get("discovering")
    return Progress(
        phase=str(raw["phase"]) if raw.get("phase") else None,
        pass_=str(current) if current else None,
        pass_number=number,
        passes=count("passes") or len(passes),
        pages_done=count("pages_done"),
        pages_total=count("pages_total") or budget or 0,
        url=str(raw["url"]) if raw.get("url") else None,
        discovering=discovering is True or (discovering is None and number == 1),
    )


@dataclass(frozen=True, slots=True)
class ScanRun:
    """One scan as the history lists it: the job that ran it (``job_id`` None for a scan
    stored without one) and, when done, the stored scan's counts and changes."""

    job_id: int | None
    scan_id: int | None
    status: str  # queued | running | done | failed
    start_url: str
    max_pages: int | None
    passes: tuple[str, ...]
    requested_at: datetime
    requested_by: str | None
    finished_at: datetime | None
    error: str | None
    progress: Progress
    # the stored summary: pages, failed_pages, items, trackers, violations, review, ...
    counts: Mapping[str, Any]
    # items_added / items_removed / items_changed / violations_added ... (lengths); absent
    # keys are diffs stored before they existed
    changes: Mapping[str, int]
    first: bool  # no scan before it to compare with

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running", "cancelling")

    @property
    def hint(self) -> str | None:
        """What to do about a failure, where we know."""
        if self.error and _PRIVATE in self.error and PRIVATE_TARGETS_SETTING not in self.error:
            return (f"This server scans only public addresses; the operator's setting "
                    f"{PRIVATE_TARGETS_SETTING}=true allows private ones.")
        return None


def judged_counts(summary: Mapping[str, Any], inventory: SiteInventory) -> dict[str, Any]:
    """A stored summary with its violations and possible violations judged through the
    inventory as it is now, from the sightings it keeps (as the scan's own page judges
    them); a summary stored before sightings were kept reads as stored."""
    counts = {k: v for k, v in summary.items() if k != "sightings"}
    sightings = stored_sightings(summary)
    if sightings is not None:
        violations, review = judge(sightings, inventory)
        counts["violations"], counts["review"] = (count_findings(violations),
                                                  count_findings(review))
    return counts


def _counts(
    scan: Scan | None, inventory: SiteInventory
) -> tuple[dict[str, Any], dict[str, int], bool]:
    if scan is None:
        return {}, {}, False
    diff = scan.diff or {}
    changes = {k: len(v) for k, v in diff.items() if isinstance(v, list)}
    return judged_counts(scan.summary or {}, inventory), changes, not diff.get("previous_scan",
                                                                             True)


def _run(job: ScanJob | None, scan: Scan | None, inventory: SiteInventory) -> ScanRun:
    counts, changes, first = _counts(scan, inventory)
    if job is None:
        assert scan is not None
        return ScanRun(None, scan.id, "done", "", None, (), scan.started_at, None,
                       scan.finished_at, None, _progress({"phase": "done"}, (), None), counts,
                       changes, first)
    options = job.options or {}
    listed = options.get("passes")
    passes = tuple(p for p in listed if p in PASSES) if isinstance(listed, list) else PASSES
    budget = options.get("max_pages")
    max_pages = budget if isinstance(budget, int) else None
    return ScanRun(
        job_id=job.id,
        scan_id=scan.id if scan is not None else None,
        status=job.status,
        start_url=str(options.get("start_url", "")),
        max_pages=max_pages,
        passes=passes,
        requested_at=job.requested_at,
        requested_by=job.requested_by,
        finished_at=job.finished_at,
        error=job.error,
        progress=_progress(job.progress or {}, passes, max_pages),
        counts=counts,
        changes=changes,
        first=first,
    )


async def _scans_of(job_ids: list[int]) -> dict[int, Scan]:
    found: dict[int, Scan] = {}
    if job_ids:
        # The newest per job (a job run twice after going stale may have stored twice).
        for scan in await Scan.filter(job_id__in=job_ids).order_by("id").only(*_SUMMARY_FIELDS):
            found[scan.job_id] = scan  # type: ignore[attr-defined]
    return found


@dataclass(frozen=True, slots=True)
class HistoryPage:
    runs: tuple[ScanRun, ...]
    older: int | None  # pass as ``before`` for the next page; None: this is the last


async def scan_history(site: Site, *, before: int | None = None, limit: int = 25) -> HistoryPage:
    """The site's scans, newest first, paged by job id (``before``: ``older`` of the page
    before). Scans stored without a job appear among them by time."""
    query = ScanJob.filter(site=site)
    if before is not None:
        query = query.filter(id__lt=before)
    jobs = list(await query.order_by("-id").limit(limit + 1))
    more = len(jobs) > limit
    jobs = jobs[:limit]
    scans = await _scans_of([j.id for j in jobs])
    inventory = await load_inventory(site.id)
    # Each stored scan's findings judged again through the inventory: thousands of
    # sightings for a scanned site that stores thousands of items. Off the event loop.
    runs = await asyncio.to_thread(
        lambda: [_run(job, scans.get(job.id), inventory) for job in jobs])
    # Scans without a job, in this page's stretch of time.
    loose = Scan.filter(site=site, job_id__isnull=True)
    if before is not None:
        newer = await ScanJob.get_or_none(id=before, site=site)
        if newer is not None:
            loose = loose.filter(finished_at__lt=newer.requested_at)
    if more and jobs:
        loose = loose.filter(finished_at__gte=jobs[-1].requested_at)
    others = await loose.only(*_SUMMARY_FIELDS, "site_id")
    if others:
        runs.extend(await asyncio.to_thread(lambda: [_run(None, s, inventory) for s in others]))
    runs.sort(key=lambda r: (r.requested_at, r.job_id or 0), reverse=True)
    return HistoryPage(tuple(runs), jobs[-1].id if more else None)


async def scan_run(site: Site, job_id: object) -> ScanRun:
    """One job of the site, with its progress, or why it failed."""
    job = await ScanJob.get_or_none(id=parse_id(job_id, "scan job"), site=site)
    if job is None:
        raise NotFound(f"no scan job {job_id} for this site")
    scans = await _scans_of([job.id])
    return _run(job, scans.get(job.id), await load_inventory(site.id))


@dataclass(frozen=True, slots=True)
class ScanOverview:
    """What the dashboard shows of a site's scans."""

    last_scan_id: int | None
    last_scan_at: datetime | None
    violations: int  # in the last scan: a known non-necessary purpose before consent/reject
    review: int  # possible violations in it: unclassified, seen then
    next_scan_at: datetime | None  # None: no schedule on
    active: ScanRun | None  # a scan queued or running now

    @property
    def never_scanned(self) -> bool:
        return self.last_scan_id is None


async def scan_overview(site: Site) -> ScanOverview:
    last = (
        await Scan.filter(site=site).order_by("-finished_at", "-id").only(*_SUMMARY_FIELDS).first()
    )
    violations = review = 0
    if last is not None:
        inventory = await load_inventory(site.id)
        summary = last.summary or {}
        counts: Mapping[str, Any]
        if stored_sightings(summary) is not None:
            counts = judged_counts(summary, inventory)
        else:  # stored before sightings were kept: only the report tells
            report = await load_report(last)
            counts = (await asyncio.to_thread(scan_summary, last, inventory, report)).counts
        violations, review = counts["violations"], counts["review"]
    job = await ScanJob.filter(
        Q(status__in=("queued", "running", "cancelling")), site=site
    ).order_by("-id").first()
    return ScanOverview(
        last_scan_id=last.id if last else None,
        last_scan_at=last.finished_at if last else None,
        violations=violations,
        review=review,
        next_scan_at=await next_scan_at(site),
        active=_run(job, None, SiteInventory(())) if job is not None else None,
    )

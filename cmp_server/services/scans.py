"""Scan jobs: request, claim, heartbeat, cancel, finish. The queue lives in the database;
schedules that queue scans are ``schedules``.

On PostgreSQL several ``cmp-server worker`` processes on several hosts claim jobs with
``SELECT … FOR UPDATE SKIP LOCKED``, so no two take the same job. A running job whose worker
stops sending heartbeats is claimed again, up to ``MAX_ATTEMPTS``.

A scan staff request is audited with the job, in the same transaction; the scans a schedule
queues are not (they are no one's change). A scan the
operator runs in their own process (``cmp-server scan URL --site KEY``) is stored by
:func:`store_run` as the worker stores a job's: a job row, done, and the scan through
``store_scan`` (inventory, history, diff), audited as a request.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from scanner import (
    PrivateTargetError,
    ScanLimits,
    ScanReport,
    TargetError,
    check_public_target,
)
from scanner.kb import KnowledgeBase

from .._utils import utcnow
from ..errors import Conflict, InvalidRequest, NotFound
from ..models import Scan, ScanJob, ScanSchedule, Site
from . import audit, events
from .scan_results import store_scan

if TYPE_CHECKING:
    from .staff import Actor

__all__ = [
    "ACTIVE_RUNNING",
    "MAX_ATTEMPTS",
    "MAX_PAGES",
    "PASSES",
    "PRIVATE_TARGETS_SETTING",
    "SCHEDULE",
    "STALE_AFTER",
    "cancel_job",
    "check_target",
    "checked_passes",
    "claim_job",
    "default_start_url",
    "finish_job",
    "heartbeat",
    "request_scan",
    "scheduled_scan_failed",
    "store_run",
    "suggested_start_url",
]

MAX_ATTEMPTS = 3
STALE_AFTER = timedelta(minutes=3)
# A claimed job: running, or running while its cancellation reaches the worker.
ACTIVE_RUNNING = ("running", "cancelling")
PASSES = ("none", "accept", "reject")
SCHEDULE = "schedule"  # requested_by of the jobs a schedule queued
MAX_PAGES = 2000
PRIVATE_TARGETS_SETTING = "CMP_ALLOW_PRIVATE_SCAN_TARGETS"


def default_start_url(site: Site) -> str:
    """Where a scan of the site starts unless told otherwise."""
    return f"https://{site.domains[0]}/"


async def suggested_start_url(site: Site) -> str:
    """What the start form offers: where the site's first schedule starts, else where the
    last scan that ran (or is to run) started (a failed one may have been a typo)."""
    schedule = await ScanSchedule.filter(site=site, start_url__isnull=False).order_by("id").first()
    if schedule is not None and schedule.start_url:
        return schedule.start_url
    last = await ScanJob.filter(site=site, status__in=("done", "queued", *ACTIVE_RUNNING)
                                ).order_by("-id").first()
    url = last.options.get("start_url") if last is not None else None
    return url if isinstance(url, str) and url else default_start_url(site)


async def check_target(url: str, allow_private: bool, *, field: str = "start_url") -> None:
    """Refuse a target the server may not scan, saying why, and for a private address which
    setting allows it: a server that scans what it is told could otherwise be pointed at the
    operator's own network (the admin port, a cloud metadata address)."""
    if len(url) > 2000 or "\x00" in url:
        raise InvalidRequest("a scan URL is an http(s) address of at most 2000 characters",
                             field=field)
    try:
        await asyncio.to_thread(check_public_target, url, allow_private)
    except PrivateTargetError as exc:
        raise InvalidRequest(
            f"{exc}: this server scans only public addresses. To scan a host on your own "
            f"network (a staging site), the operator sets {PRIVATE_TARGETS_SETTING}=true.",
            field=field,
        ) from None
    except TargetError as exc:
        raise InvalidRequest(str(exc), field=field) from None


def checked_passes(passes: tuple[str, ...] | list[str]) -> list[str]:
    unknown = set(passes) - set(PASSES)
    if unknown or not passes:
        raise InvalidRequest("passes must be among none, accept, reject", field="passes")
    # The first pass discovers the pages; none first, as a visitor arrives before choosing.
    return [p for p in PASSES if p in passes]


async def request_scan(
    site: Site,
    *,
    start_url: str | None = None,
    max_pages: int = 30,
    passes: tuple[str, ...] = PASSES,
    requested_by: str | None = None,
    allow_private: bool = False,
    extra: dict[str, Any] | None = None,
    by: Actor | None = None,
) -> ScanJob:
    """Queue a scan of ``site`` (audited as ``scan.request``, with ``by`` as the one who
    asked). Private, loopback and link-local targets are refused unless the operator allows
    them (``CMP_ALLOW_PRIVATE_SCAN_TARGETS``)."""
    who = requested_by or (by.email if by else None)
    job = _new_job(site, start_url, max_pages, passes, who, extra)
    await check_target(str(job.options["start_url"]), allow_private)
    async with in_transaction():
        await job.save()
        await audit.record(by, "scan.request", "scan_job", job.id, site=site,
                           after=dict(job.options))
    return job


async def store_run(
    site: Site,
    report: ScanReport,
    *,
    max_pages: int,
    passes: tuple[str, ...],
    run_by: str,
    requested_by: str = "cli",
    extra: dict[str, Any] | None = None,
    kb: KnowledgeBase | None = None,
    by: Actor | None = None,
    limits: ScanLimits | None = None,
) -> Scan:
    """Store a scan run outside the queue as the site's scan, exactly as the worker stores a
    job's: the job (claimed by ``run_by``, one attempt, requested when the scan started) and
    the request's audit row in one transaction, then the report through ``store_scan`` (in
    short transactions of its own), then the job done. A store that fails marks the job
    failed, with the reason. The start URL is the one scanned: no target check (the operator
    ran it)."""
    job = _new_job(site, report.start_url, max_pages, passes, requested_by, extra)
    job.status, job.attempts, job.progress = "running", 1, {"phase": "inspect"}
    job.claimed_by, job.claimed_at = run_by[:200], report.started_at
    job.heartbeat_at = report.finished_at
    async with in_transaction():
        await job.save()
        # requested_at is set on insert; the run was asked for when it started.
        await ScanJob.filter(id=job.id).update(requested_at=report.started_at)
        await audit.record(by, "scan.request", "scan_job", job.id, site=site,
                           after={**job.options, "run_by": job.claimed_by})
    try:
        scan = await store_scan(site, report, job=job, kb=kb, limits=limits)
    except BaseException:
        await ScanJob.filter(id=job.id).update(
            status="failed", error="the scan could not be stored", finished_at=utcnow())
        raise
    await ScanJob.filter(id=job.id).update(
        status="done", progress={"phase": "done"}, finished_at=report.finished_at)
    return scan


def _new_job(
    site: Site,
    start_url: str | None,
    max_pages: int,
    passes: tuple[str, ...] | list[str],
    requested_by: str | None,
    extra: dict[str, Any] | None,
) -> ScanJob:
    url = start_url or default_start_url(site)
    if not 1 <= max_pages <= MAX_PAGES:
        raise InvalidRequest(f"max_pages must be between 1 and {MAX_PAGES}", field="max_pages")
    options: dict[str, Any] = {
        "start_url": url, "max_pages": max_pages, "passes": checked_passes(passes),
    }
    options.update(extra or {})
    return ScanJob(site=site, options=options, requested_by=requested_by)


async def claim_job(worker_id: str) -> ScanJob | None:
    """The oldest job to run, claimed; never one of a site whose scan runs (not stale) now,
    also with several workers: the site's row is locked while that is looked at, so a second
    worker waits for the first's claim and then sees it."""
    now = utcnow()
    async with in_transaction():
        busy = await ScanJob.filter(status__in=ACTIVE_RUNNING,
                                    heartbeat_at__gte=now - STALE_AFTER
                                    ).values_list("site_id", flat=True)
        job = (
            await ScanJob.filter(
                Q(status="queued") | Q(status__in=ACTIVE_RUNNING,
                                       heartbeat_at__lt=now - STALE_AFTER)
            )
            .exclude(site_id__in=list(set(busy)) or [0])
            .order_by("requested_at", "id")
            .select_for_update(skip_locked=True)
            .first()
        )
        if job is None:
            return None
        await Site.select_for_update().get(id=job.site_id)
        if await ScanJob.filter(site_id=job.site_id, status__in=ACTIVE_RUNNING,
                                heartbeat_at__gte=now - STALE_AFTER).exclude(id=job.id).exists():
            return None  # another worker claimed one of this site's meanwhile
        if job.status == "cancelling":  # stale while being cancelled: it is
            await ScanJob.filter(id=job.id).update(status="cancelled", finished_at=now)
            return None
        if job.attempts >= MAX_ATTEMPTS:
            job.status = "failed"
            job.error = f"gave up after {job.attempts} attempts (the worker stopped each time)"
            job.finished_at = now
            await job.save()
            return None
        job.status = "running"
        job.claimed_by = worker_id
        job.claimed_at = now
        job.heartbeat_at = now
        job.attempts += 1
        await job.save()
    return job


async def heartbeat(job: ScanJob, progress: dict[str, Any]) -> bool:
    """Record the running job's progress; whether staff asked for it to be cancelled."""
    job.heartbeat_at = utcnow()
    job.progress = progress
    await ScanJob.filter(id=job.id, claimed_by=job.claimed_by).update(
        heartbeat_at=job.heartbeat_at, progress=progress
    )
    return await ScanJob.filter(id=job.id, status="cancelling").exists()


async def cancel_job(site: Site, job_id: int, *, by: Actor | None = None) -> ScanJob:
    """Stop a queued scan at once, or a running one within seconds (its worker looks every
    second and stops the browser); audited. A scan that has ended is left as it is."""
    async with in_transaction():
        job = await ScanJob.select_for_update().get_or_none(id=job_id, site=site)
        if job is None:
            raise NotFound("no such scan")
        if job.status not in ("queued", "running"):
            raise Conflict(f"the scan is {job.status} already", field="form")
        before = job.status
        if job.status == "queued":
            job.status, job.finished_at = "cancelled", utcnow()
        else:
            job.status = "cancelling"
        await job.save(update_fields=["status", "finished_at"])
        await audit.record(by, "scan.cancel", "scan_job", job.id, site=site,
                           before={"status": before}, after={"status": job.status})
    return job


async def finish_job(job: ScanJob, *, error: str | None = None,
                     cancelled: bool = False) -> None:
    status = "cancelled" if cancelled else "failed" if error else "done"
    async with in_transaction():
        await ScanJob.filter(id=job.id).update(status=status, error=error, finished_at=utcnow())
        if error and job.requested_by == SCHEDULE:
            await scheduled_scan_failed(await job.site, job.id, error)


async def scheduled_scan_failed(site: Site, job_id: int, error: str) -> None:
    await events.emit(site, "scan.failed", {
        "job": job_id, "error": error, "admin_path": f"/admin/sites/{site.key}/scans",
    })

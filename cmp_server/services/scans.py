"""Scan jobs: request, claim, heartbeat, finish. The queue lives in the database.

On PostgreSQL several ``cmp-server worker`` processes on several hosts claim jobs with
``SELECT … FOR UPDATE SKIP LOCKED``, so no two take the same job. A running job whose worker
stops sending heartbeats is claimed again, up to ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from scanner import TargetError, check_public_target

from .._utils import utcnow
from ..errors import InvalidRequest
from ..models import ScanJob, Site

__all__ = [
    "MAX_ATTEMPTS",
    "STALE_AFTER",
    "claim_job",
    "enqueue_due_scans",
    "finish_job",
    "heartbeat",
    "request_scan",
]

MAX_ATTEMPTS = 3
STALE_AFTER = timedelta(minutes=3)


async def request_scan(
    site: Site,
    *,
    start_url: str | None = None,
    max_pages: int = 30,
    passes: tuple[str, ...] = ("none", "accept", "reject"),
    requested_by: str | None = None,
    allow_private: bool = False,
    extra: dict[str, Any] | None = None,
) -> ScanJob:
    """Queue a scan of ``site``. Private, loopback and link-local targets are refused unless
    the operator allows them (``CMP_ALLOW_PRIVATE_SCAN_TARGETS``): a server that scans what it
    is told could otherwise be pointed at the operator's own network."""
    url = start_url or site.scan_url or f"https://{site.domains[0]}/"
    try:
        await asyncio.to_thread(check_public_target, url, allow_private)
    except TargetError as exc:
        raise InvalidRequest(str(exc)) from None
    if not 1 <= max_pages <= 2000:
        raise InvalidRequest("max_pages must be between 1 and 2000")
    unknown = set(passes) - {"none", "accept", "reject"}
    if unknown or not passes:
        raise InvalidRequest("passes must be among none, accept, reject")
    options: dict[str, Any] = {"start_url": url, "max_pages": max_pages, "passes": list(passes)}
    options.update(extra or {})
    return await ScanJob.create(site=site, options=options, requested_by=requested_by)


async def claim_job(worker_id: str) -> ScanJob | None:
    now = utcnow()
    async with in_transaction():
        job = (
            await ScanJob.filter(
                Q(status="queued") | Q(status="running", heartbeat_at__lt=now - STALE_AFTER)
            )
            .order_by("requested_at", "id")
            .select_for_update(skip_locked=True)
            .first()
        )
        if job is None:
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


async def heartbeat(job: ScanJob, progress: dict[str, Any]) -> None:
    job.heartbeat_at = utcnow()
    job.progress = progress
    await ScanJob.filter(id=job.id, claimed_by=job.claimed_by).update(
        heartbeat_at=job.heartbeat_at, progress=progress
    )


async def finish_job(job: ScanJob, *, error: str | None = None) -> None:
    await ScanJob.filter(id=job.id).update(
        status="failed" if error else "done", error=error, finished_at=utcnow()
    )


async def enqueue_due_scans(*, allow_private: bool = False) -> list[ScanJob]:
    """Queue a scan for each site whose schedule is due and that has none queued or running."""
    queued = []
    now = utcnow()
    for site in await Site.filter(scan_interval_hours__isnull=False):
        busy = await ScanJob.filter(site=site, status__in=("queued", "running")).exists()
        if busy:
            continue
        last = await ScanJob.filter(site=site).order_by("-requested_at").first()
        interval = timedelta(hours=site.scan_interval_hours or 0)
        if last is not None and now - last.requested_at < interval:
            continue
        try:
            queued.append(
                await request_scan(site, requested_by="schedule", allow_private=allow_private)
            )
        except InvalidRequest:
            continue
    return queued

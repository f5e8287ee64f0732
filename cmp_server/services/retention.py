"""Receipt retention: receipts older than the site's retention period are purged, and each purge
is itself logged (PurgeLog), so that the absence of old proof is explained.

Before a purge, staff see what is about to go (``preview``) and can export it; the retention
period is changed with ``set_retention`` (audited), never shorter than the consent lifetime: a
consent still in use would lose its proof.

The consent-rate counters (``counters``, ``ConsentDaily``) are kept when their receipts go:
they are counts per day, method and purpose and hold nothing about a visitor, so the chart
keeps its history; a recount never reaches back past a purge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tortoise.transactions import in_transaction

from .._utils import utcnow
from ..errors import InvalidRequest
from ..models import ConsentReceipt, PurgeLog, Site
from . import events, sites

if TYPE_CHECKING:
    from .staff import Actor

__all__ = [
    "MAX_RETENTION_DAYS",
    "PurgeResult",
    "RetentionPreview",
    "check_retention",
    "cutoff",
    "preview",
    "purge_log",
    "purge_receipts",
    "set_retention",
]

MAX_RETENTION_DAYS = sites.MAX_RETENTION_DAYS


@dataclass(frozen=True)
class PurgeResult:
    site_key: str
    deleted: int


def cutoff(days: int, now: datetime | None = None) -> datetime:
    """Receipts recorded before this go with a retention period of ``days``."""
    return (now or utcnow()) - timedelta(days=days)


async def purge_receipts(trigger: str = "cli") -> list[PurgeResult]:
    results = []
    now = utcnow()
    for site in await Site.all().order_by("id"):
        before = cutoff(site.receipt_retention_days, now)
        async with in_transaction():
            deleted = await ConsentReceipt.filter(site=site, recorded_at__lt=before).delete()
            await PurgeLog.create(site=site, cutoff=before, deleted=deleted, trigger=trigger)
            if deleted:
                await events.emit(site, "retention.purged", {
                    "deleted": deleted, "cutoff": before.isoformat(), "trigger": trigger,
                    "admin_path": f"/admin/sites/{site.key}/retention",
                })
        results.append(PurgeResult(site.key, deleted))
    return results


@dataclass(frozen=True)
class RetentionPreview:
    days: int
    cutoff: datetime  # the next purge deletes what was recorded before this
    due: int  # receipts older than the cutoff now: the next purge takes them
    oldest: datetime | None  # the oldest stored receipt
    horizon: datetime  # the cutoff ``lookahead_days`` from now
    soon: int  # receipts that go by then (``due`` included)


async def preview(
    site: Site, *, days: int | None = None, lookahead_days: int = 7, now: datetime | None = None
) -> RetentionPreview:
    """What the purge takes with the site's retention period (or ``days``), now and within
    ``lookahead_days``: counted on the (site_id, recorded_at) index."""
    days = site.receipt_retention_days if days is None else days
    now = now or utcnow()
    before = cutoff(days, now)
    horizon = before + timedelta(days=lookahead_days)
    receipts = ConsentReceipt.filter(site_id=site.id)
    oldest = await receipts.order_by("recorded_at").limit(1).values_list("recorded_at", flat=True)
    return RetentionPreview(
        days=days,
        cutoff=before,
        due=await receipts.filter(recorded_at__lt=before).count(),
        oldest=oldest[0] if oldest else None,  # type: ignore[arg-type]
        horizon=horizon,
        soon=await receipts.filter(recorded_at__lt=horizon).count(),
    )


async def purge_log(
    site: Site, *, before_id: int | None = None, limit: int = 50
) -> list[PurgeLog]:
    """The site's purges, newest first, keyset-paged by id."""
    query = PurgeLog.filter(site_id=site.id)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(limit)


def check_retention(site: Site, days: int) -> None:
    """``InvalidRequest`` unless ``days`` is a retention period the site may have."""
    if not 1 <= days <= MAX_RETENTION_DAYS:
        raise InvalidRequest(f"retention must be between 1 and {MAX_RETENTION_DAYS} days",
                             field="days")
    if days < site.consent_lifetime_days:
        raise InvalidRequest(
            f"retention must be at least the consent lifetime ({site.consent_lifetime_days} "
            "days): a consent still in use would lose its proof", field="days"
        )


async def set_retention(
    site: Site, days: int, *, by: Actor | None, version: int | None = None
) -> Site:
    """Change how long the site's receipts are kept; the change and its audit entry commit
    together (``sites.update_site``)."""
    check_retention(site, days)
    async with in_transaction():
        return await sites.update_site(site, receipt_retention_days=days, by=by,
                                       version=version)

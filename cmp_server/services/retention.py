"""Receipt retention: receipts older than the site's retention period are purged, and each purge
is itself logged (PurgeLog), so that the absence of old proof is explained."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tortoise.transactions import in_transaction

from .._utils import utcnow
from ..models import ConsentReceipt, PurgeLog, Site

__all__ = ["PurgeResult", "purge_receipts"]


@dataclass(frozen=True)
class PurgeResult:
    site_key: str
    deleted: int


async def purge_receipts(trigger: str = "cli") -> list[PurgeResult]:
    results = []
    now = utcnow()
    for site in await Site.all().order_by("id"):
        cutoff = now - timedelta(days=site.receipt_retention_days)
        async with in_transaction():
            deleted = await ConsentReceipt.filter(site=site, recorded_at__lt=cutoff).delete()
            await PurgeLog.create(site=site, cutoff=cutoff, deleted=deleted, trigger=trigger)
        results.append(PurgeResult(site.key, deleted))
    return results

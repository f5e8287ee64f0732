"""Checking the receipts' hash chains: proof that stored receipts were not altered.

Each receipt's ``record_hash`` covers its stored fields and the previous receipt's hash of the
same visitor. A receipt whose predecessor was purged by retention starts a new verifiable chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from tortoise.expressions import Q

from ..models import ConsentReceipt, Site
from .receipts import record_hash

__all__ = ["ChainProblem", "VerifyResult", "check_receipt", "verify_receipts"]

NOT_PREDECESSOR = "links to a receipt that is not its predecessor"
ALTERED = "stored fields do not match the record hash"


@dataclass(frozen=True)
class ChainProblem:
    consent_id: UUID
    receipt_id: UUID
    reason: str


@dataclass(frozen=True)
class VerifyResult:
    site_key: str
    checked: int
    chains: int
    problems: tuple[ChainProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_receipt(
    row: ConsentReceipt, site_key: str, previous_id: UUID | None, previous_hash: str
) -> str | None:
    """Why ``row`` does not verify as the successor of the receipt ``previous_id`` with hash
    ``previous_hash`` (None and "" for a visitor's first receipt), or None if it does."""
    if row.previous_receipt_id != previous_id:
        return NOT_PREDECESSOR
    if record_hash(row, site_key, previous_hash) != row.record_hash:
        return ALTERED
    return None


async def verify_receipts(site: Site, *, page_size: int = 1000) -> VerifyResult:
    problems: list[ChainProblem] = []
    checked = chains = 0
    current: UUID | None = None
    previous_id: UUID | None = None
    previous_hash = ""
    cursor: tuple[UUID, int] | None = None
    while True:
        query = ConsentReceipt.filter(site=site)
        if cursor is not None:
            query = query.filter(
                Q(consent_id__gt=cursor[0]) | Q(consent_id=cursor[0], id__gt=cursor[1])
            )
        rows = await query.order_by("consent_id", "id").limit(page_size)
        if not rows:
            break
        for row in rows:
            checked += 1
            if row.consent_id != current:
                current, chains = row.consent_id, chains + 1
                # The chain's first receipt here may follow one the retention purge removed.
                previous_id, previous_hash = row.previous_receipt_id, ""
                if row.previous_receipt_id is not None:
                    previous_id, previous_hash = row.receipt_id, row.record_hash
                    continue
            reason = check_receipt(row, site.key, previous_id, previous_hash)
            if reason is not None:
                problems.append(ChainProblem(row.consent_id, row.receipt_id, reason))
            previous_id, previous_hash = row.receipt_id, row.record_hash
        cursor = (rows[-1].consent_id, rows[-1].id)
    return VerifyResult(site.key, checked, chains, tuple(problems))

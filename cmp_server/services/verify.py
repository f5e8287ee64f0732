"""Checking the receipts' hash chains: proof that stored receipts were not altered.

A visitor's receipts on a site form a chain: each receipt's ``record_hash`` covers its stored
fields and the hash of the visitor's previous receipt on the same site, and its
``previous_receipt_id`` names that receipt. A receipt whose predecessor was purged by retention
starts a new verifiable chain.

Receipts stored before chains were per site (migration 0017) may link to the visitor's
receipt on another site. They are never rewritten; a ``ReceiptChainRepair`` row says which
receipt precedes such a receipt on its own site, and the hash its own hash was chained over.
Every check here reads the two together (``check_link``): the admin's receipt page and
visitor history, and ``cmp-server verify-receipts``, agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from tortoise.expressions import Q

from ..models import ConsentReceipt, ReceiptChainRepair, Site
from .receipts import record_hash

__all__ = [
    "ALTERED",
    "NOT_PREDECESSOR",
    "PREDECESSOR_PURGED",
    "ChainProblem",
    "Repair",
    "VerifyResult",
    "check_link",
    "repairs",
    "verify_receipts",
]

NOT_PREDECESSOR = "links to a receipt that is not its predecessor"
ALTERED = "stored fields do not match the record hash"
# Not a problem: the receipt before it on its site went with retention, so it starts the
# verifiable chain.
PREDECESSOR_PURGED = "its predecessor was purged"


@dataclass(frozen=True)
class Repair:
    """What a ``ReceiptChainRepair`` row says of one receipt."""

    previous_receipt_id: UUID | None  # the receipt before it on its own site
    linked_hash: str  # the hash its record hash was chained over (its stored link's)


async def repairs(receipt_ids: Iterable[UUID]) -> dict[UUID, Repair]:
    """The repairs of those of ``receipt_ids`` that have one."""
    ids = list(receipt_ids)
    if not ids:
        return {}
    rows = await ReceiptChainRepair.filter(receipt_id__in=ids).values(
        "receipt_id", "previous_receipt_id", "linked_hash"
    )
    return {
        r["receipt_id"]: Repair(r["previous_receipt_id"], r["linked_hash"]) for r in rows
    }


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


def check_link(
    row: ConsentReceipt, site_key: str, before: ConsentReceipt | None, repair: Repair | None
) -> str | None:
    """Why ``row`` does not verify as the receipt after ``before``, the visitor's receipt
    stored before it on the same site (None: none is stored), or None if it does.
    ``PREDECESSOR_PURGED`` when it links to a receipt that is no longer stored and none is
    stored before it: it starts the chain, and its hash is checked only where a repair holds
    the hash it was chained over."""
    linked = repair.previous_receipt_id if repair else row.previous_receipt_id
    if before is None:
        chained_over = repair.linked_hash if repair else ""
        if linked is not None:
            if repair is None:
                return PREDECESSOR_PURGED
            if record_hash(row, site_key, chained_over) != row.record_hash:
                return ALTERED
            return PREDECESSOR_PURGED
    else:
        if linked != before.receipt_id:
            return NOT_PREDECESSOR
        chained_over = repair.linked_hash if repair else before.record_hash
    if record_hash(row, site_key, chained_over) != row.record_hash:
        return ALTERED
    return None


async def verify_receipts(site: Site, *, page_size: int = 1000) -> VerifyResult:
    problems: list[ChainProblem] = []
    checked = chains = 0
    before: ConsentReceipt | None = None
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
        fixed = await repairs(row.receipt_id for row in rows)
        for row in rows:
            checked += 1
            if before is None or row.consent_id != before.consent_id:
                chains += 1
                before = None
            reason = check_link(row, site.key, before, fixed.get(row.receipt_id))
            if reason is not None and reason != PREDECESSOR_PURGED:
                problems.append(ChainProblem(row.consent_id, row.receipt_id, reason))
            before = row
        cursor = (rows[-1].consent_id, rows[-1].id)
    return VerifyResult(site.key, checked, chains, tuple(problems))

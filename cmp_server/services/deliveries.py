"""Delivering events to webhook endpoints: claimed by one worker at a time, tried again with
exponential backoff for a day, and a day of failures turns the endpoint off.

A claim moves the delivery's ``due_at`` a lease ahead in the same statement that takes it
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two workers never take the same one; SQLite has one
writer). A worker that dies mid-delivery leaves it due again when the lease ends, and another
worker delivers it: a receiver may then see a ``webhook-id`` twice, which the specification
tells receivers to expect. Time is a parameter throughout, so tests move it without sleeping.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from .._utils import utcnow
from ..models import Delivery, DeliveryAttempt, WebhookEndpoint
from . import outbound
from .webhooks import signed_request

__all__ = ["BACKOFF", "GIVE_UP_AFTER", "LEASE", "claim", "deliver_due", "retry_delay"]

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
GIVE_UP_AFTER = timedelta(hours=24)  # of a delivery's failures, and of an endpoint's
# The wait after the n-th failed attempt: 5 s, doubling, at most 2 h (about 16 tries a day).
BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(hours=2)
BATCH = 20


def retry_delay(attempts: int) -> timedelta:
    wait: timedelta = BACKOFF * (2 ** max(attempts - 1, 0))
    return min(wait, MAX_BACKOFF)


async def claim(worker_id: str, now: datetime, limit: int = BATCH) -> list[Delivery]:
    async with in_transaction():
        due = await (
            Delivery.filter(status="pending", due_at__lte=now)
            .order_by("due_at", "id").limit(limit)
            .select_for_update(skip_locked=True)
        )
        if due:
            await Delivery.filter(id__in=[d.id for d in due]).update(
                due_at=now + LEASE, claimed_by=worker_id
            )
    return list(due)


async def deliver_due(worker_id: str, *, allow_private: bool, now: datetime | None = None,
                      timeout: float = 10.0) -> int:
    """Claim what is due and try each once; the number tried."""
    at = now or utcnow()
    claimed = await claim(worker_id, at)
    for delivery in claimed:
        await _attempt(delivery, allow_private=allow_private, now=at, timeout=timeout)
    return len(claimed)


async def _attempt(delivery: Delivery, *, allow_private: bool, now: datetime,
                   timeout: float) -> None:
    endpoint = await WebhookEndpoint.get_or_none(id=delivery.endpoint_id)
    event = await delivery.event
    if endpoint is None or not endpoint.enabled:
        await Delivery.filter(id=delivery.id, claimed_by=delivery.claimed_by).update(
            status="given_up", finished_at=now)
        return
    body, headers = signed_request(endpoint, event, now)
    answer = await outbound.post(endpoint.url, body, headers, allow_private=allow_private,
                                 timeout=timeout)
    ok = answer.status is not None and 200 <= answer.status < 300
    attempts = delivery.attempts + 1
    async with in_transaction():
        await DeliveryAttempt.create(delivery_id=delivery.id, at=now, status_code=answer.status,
                                     duration_ms=answer.duration_ms, excerpt=answer.excerpt,
                                     error=answer.error)
        if ok:
            status, due = "delivered", now
        elif now - delivery.created_at >= GIVE_UP_AFTER:
            status, due = "given_up", now
        else:
            status, due = "pending", now + retry_delay(attempts)
        await Delivery.filter(id=delivery.id).update(
            status=status, attempts=attempts, due_at=due,
            finished_at=None if status == "pending" else now,
        )
        await _endpoint_health(endpoint, ok, now)


async def _endpoint_health(endpoint: WebhookEndpoint, ok: bool, now: datetime) -> None:
    """A success clears the failing streak; a streak of a day turns the endpoint off and
    gives up its pending deliveries (they stay in the log, and can be sent again)."""
    if ok:
        if endpoint.failing_since is not None:
            await WebhookEndpoint.filter(id=endpoint.id).update(failing_since=None)
        return
    if endpoint.failing_since is None:
        await WebhookEndpoint.filter(id=endpoint.id, failing_since=None).update(
            failing_since=now)
        return
    if now - endpoint.failing_since >= GIVE_UP_AFTER:
        reason = (f"turned off after failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC;"
                  " fix the receiver, then turn it on again")
        await WebhookEndpoint.filter(id=endpoint.id).update(enabled=False,
                                                            disabled_reason=reason)
        await Delivery.filter(endpoint_id=endpoint.id, status="pending").update(
            status="given_up", finished_at=now)
        log.warning("webhook endpoint %s turned off: %s", endpoint.id, reason)

"""Delivering events to webhook endpoints and by mail: claimed by one worker at a time, tried
again with exponential backoff for a day, and a day of failures turns an endpoint off (and
tells the owners by mail).

A claim moves the delivery's ``due_at`` a lease ahead in the same statement that takes it
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL: two workers never take the same one; SQLite has one
writer). A worker that dies mid-delivery leaves it due again when the lease ends, and another
worker delivers it: a receiver may then see a ``webhook-id`` twice, which the specification
tells receivers to expect. Time is a parameter throughout, so tests move it without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

import aiosmtplib
from tortoise.transactions import in_transaction

from .._utils import utcnow
from ..models import (
    Delivery,
    DeliveryAttempt,
    Event,
    MailPreference,
    Site,
    Staff,
    WebhookEndpoint,
)
from . import outbound
from .events import emit
from .mail import MailConfig, Notice, compose
from .mail import send as mail_send
from .webhooks import signed_request

__all__ = ["BACKOFF", "GIVE_UP_AFTER", "LEASE", "claim", "deliver_due", "retry_delay"]

log = logging.getLogger(__name__)

# Longer than a batch can take: PARALLEL attempts at a time, each bounded by its timeout.
LEASE = timedelta(minutes=10)
PARALLEL = 10
GIVE_UP_AFTER = timedelta(hours=24)  # of a delivery's failures, and of an endpoint's
# The wait after the n-th failed attempt: 5 s, doubling, at most 2 h (about 16 tries a day).
BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(hours=2)
BATCH = 50
EXCERPT = 2048


def retry_delay(attempts: int) -> timedelta:
    wait: timedelta = BACKOFF * (2 ** max(attempts - 1, 0))
    return min(wait, MAX_BACKOFF)


async def claim(worker_id: str, now: datetime, limit: int = BATCH,
                lease: timedelta = LEASE) -> list[Delivery]:
    async with in_transaction():
        due = await (
            Delivery.filter(status="pending", due_at__lte=now)
            .order_by("due_at", "id").limit(limit)
            .select_for_update(skip_locked=True)
        )
        if due:
            await Delivery.filter(id__in=[d.id for d in due]).update(
                due_at=now + lease, claimed_by=worker_id
            )
    return list(due)


async def deliver_due(worker_id: str, *, allow_private: bool, mail: MailConfig | None = None,
                      now: datetime | None = None, timeout: float = 10.0,
                      lease: timedelta = LEASE) -> int:
    """Claim what is due and try each once (a recipient's digest deliveries as one mail);
    the number tried. Without ``mail`` (no SMTP configured), mail is given up at once, saying
    why, rather than kept waiting for ever."""
    at = now or utcnow()
    claimed = await claim(worker_id, at, lease=lease)
    mails: dict[tuple[int, str, int], list[Delivery]] = {}
    hooks = []
    for delivery in claimed:
        if delivery.channel == "webhook":
            hooks.append(delivery)
        else:  # one mail per delivery at once; one per recipient for the digest
            key = (delivery.staff_id or 0, delivery.channel,
                   0 if delivery.channel == "digest" else delivery.id)
            mails.setdefault(key, []).append(delivery)
    # Side by side: a batch of slow endpoints takes one timeout, not one each, well inside
    # the lease (a slow endpoint must not hold the others back either).
    gate = asyncio.Semaphore(PARALLEL)

    async def one(delivery: Delivery) -> None:
        async with gate:
            await _attempt(delivery, allow_private=allow_private, now=at, timeout=timeout)

    await asyncio.gather(*(one(d) for d in hooks))
    for group in mails.values():
        await _mail(group, mail, now=at)
    return len(claimed)


async def _mail(group: list[Delivery], config: MailConfig | None, *, now: datetime) -> None:
    staff = await Staff.get_or_none(id=group[0].staff_id or 0, active=True)
    if staff is None or config is None:
        why = "mail is not configured (CMP_SMTP_HOST)" if staff else "the account is gone"
        await _record(group, None, 0, "", why, ok=False, final=True, now=now)
        return
    events = {e.id: e for e in await Event.filter(id__in=[d.event_id for d in group])}
    notices = [Notice(e.type, e.data, owner_mail=e.site_id is None or e.type == "webhook.disabled")
               for d in group if (e := events.get(d.event_id)) is not None]
    preference = await MailPreference.get_or_none(staff_id=staff.id)
    message = compose(notices, staff.email, preference.language if preference else "en", config,
                      await _attachments(events.values()))
    started = time.monotonic()
    try:
        answer, error, ok = await mail_send(message, config), None, True
    except (aiosmtplib.SMTPException, OSError) as exc:
        answer, error, ok = "", f"{type(exc).__name__}: {exc}"[:300], False
    took = int((time.monotonic() - started) * 1000)
    await _record(group, None, took, answer[:EXCERPT], error, ok=ok, final=False, now=now)


async def _attachments(kept: Iterable[Event]) -> list[tuple[str, bytes]]:
    """The monthly report's PDF, for each ``report.monthly`` event among ``kept``."""
    files = []
    for event in kept:
        if event.type == "report.monthly" and event.site_id is not None:
            from .report import month_of, monthly_report
            from .report_render import report_pdf

            site = await Site.get(id=event.site_id)
            month = month_of(str(event.data.get("month")))
            pdf = await report_pdf(await monthly_report(site, month))
            files.append((f"compliance-report-{site.key}-{month:%Y-%m}.pdf", pdf))
    return files


async def _record(group: list[Delivery], status: int | None, took: int, excerpt: str,
                  error: str | None, *, ok: bool, final: bool, now: datetime) -> None:
    async with in_transaction():
        for delivery in group:
            attempts = delivery.attempts + 1
            await DeliveryAttempt.create(delivery_id=delivery.id, at=now, status_code=status,
                                         duration_ms=took, excerpt=excerpt, error=error)
            if ok:
                state, due = "delivered", now
            elif final or now - delivery.created_at >= GIVE_UP_AFTER:
                state, due = "given_up", now
            else:
                state, due = "pending", now + retry_delay(attempts)
            await Delivery.filter(id=delivery.id).update(
                status=state, attempts=attempts, due_at=due,
                finished_at=None if state == "pending" else now)


async def _attempt(delivery: Delivery, *, allow_private: bool, now: datetime,
                   timeout: float) -> None:
    endpoint = await WebhookEndpoint.get_or_none(id=delivery.endpoint_id or 0)
    event = await delivery.event
    if endpoint is None or not endpoint.enabled:
        await Delivery.filter(id=delivery.id, claimed_by=delivery.claimed_by).update(
            status="given_up", finished_at=now)
        return
    body, headers = signed_request(endpoint, event, now)
    answer = await outbound.post(endpoint.url, body, headers, allow_private=allow_private,
                                 timeout=timeout)
    ok = answer.status is not None and 200 <= answer.status < 300
    async with in_transaction():
        await _record([delivery], answer.status, answer.duration_ms, answer.excerpt,
                      answer.error, ok=ok, final=False, now=now)
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
        site = await endpoint.site
        await emit(site, "webhook.disabled", {
            "url": endpoint.url, "failing_since": endpoint.failing_since.isoformat(),
            "admin_path": f"/admin/sites/{site.key}/notifications/webhooks/{endpoint.id}",
        }, now=now, audience="owners")

"""Events staff may want to hear about, and their fan-out to the site's webhook endpoints.

``emit`` only writes rows (the event, and a pending delivery per endpoint that wants it): it
never waits for an endpoint, so an unreachable one cannot slow the request or the job that
emitted, and nothing is lost while it is down. The workers deliver (``deliveries.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from .._utils import utcnow
from ..models import Delivery, Event, MailSubscription, Site, Staff, WebhookEndpoint

__all__ = ["EVENT_LABELS", "EVENT_TYPES", "EventType", "emit", "next_digest"]

EventType = Literal[
    "scan.findings",
    "scan.failed",
    "version.published",
    "verification.failed",
    "retention.purged",
    "account.locked",
    "webhook.test",
    "webhook.disabled",
    "report.monthly",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)

# What owners choose from for a site's webhooks; the test event is sent on demand only, and
# an account's lock (no site's event) goes to owners by mail.
EVENT_LABELS: dict[str, str] = {
    "scan.findings": "A scan found new items, new violations or new unclassified items",
    "scan.failed": "A scheduled scan failed",
    "version.published": "A version was published",
    "verification.failed": "Verifying the receipts found a problem",
    "retention.purged": "A retention purge ran",
    "report.monthly": "The monthly compliance report (by mail as a PDF)",
}


DIGEST_HOUR_UTC = 7  # daily digests go out at 07:00 UTC


def next_digest(at: datetime) -> datetime:
    due = at.replace(hour=DIGEST_HOUR_UTC, minute=0, second=0, microsecond=0)
    return due if due > at else due + timedelta(days=1)


async def emit(
    site: Site | None, type: EventType, data: dict[str, Any], *, now: datetime | None = None,
    only_endpoint: int | None = None, audience: Literal["subscribers", "owners"] = "subscribers",
) -> Event:
    """Keep the event and queue its deliveries: a site's event to every enabled endpoint of
    the site that asked for its type (``only_endpoint``: to that one, whatever it asked for:
    the test event) and to the staff who chose it by mail, at once or in the next daily
    digest; an event for ``owners`` (an account locked, a webhook turned off) by mail to every
    active owner at once, and to nobody else."""
    at = now or utcnow()
    if site is not None:
        data = {"site": site.key, "site_name": site.name, **data}
    event = await Event.create(site_id=site.id if site else None, type=type, data=data,
                               created_at=at)
    rows: list[Delivery] = []
    if audience == "owners":
        rows += [Delivery(event_id=event.id, channel="mail", staff_id=owner.id, due_at=at,
                          created_at=at)
                 for owner in await Staff.filter(role="owner", active=True)]
    elif site is not None:
        endpoints = WebhookEndpoint.filter(site_id=site.id, enabled=True)
        if only_endpoint is not None:
            endpoints = endpoints.filter(id=only_endpoint)
        rows += [Delivery(event_id=event.id, endpoint_id=e.id, due_at=at, created_at=at)
                 for e in await endpoints if only_endpoint is not None or type in e.events]
        if only_endpoint is None:
            for sub in await MailSubscription.filter(site_id=site.id, event=type,
                                                     staff__active=True):
                digest = sub.mode == "digest"
                rows.append(Delivery(
                    event_id=event.id, channel="digest" if digest else "mail",
                    staff_id=sub.staff_id, due_at=next_digest(at) if digest else at,
                    created_at=at))
    if rows:
        await Delivery.bulk_create(rows)
    return event

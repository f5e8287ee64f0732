"""Events staff may want to hear about, and their fan-out to the site's webhook endpoints.

``emit`` only writes rows (the event, and a pending delivery per endpoint that wants it): it
never waits for an endpoint, so an unreachable one cannot slow the request or the job that
emitted, and nothing is lost while it is down. The workers deliver (``deliveries.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from .._utils import utcnow
from ..models import Delivery, Event, Site, WebhookEndpoint

__all__ = ["EVENT_LABELS", "EVENT_TYPES", "EventType", "emit"]

EventType = Literal[
    "scan.findings",
    "scan.failed",
    "version.published",
    "verification.failed",
    "retention.purged",
    "account.locked",
    "webhook.test",
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
}


async def emit(
    site: Site, type: EventType, data: dict[str, Any], *, now: datetime | None = None,
    only_endpoint: int | None = None,
) -> Event:
    """Keep the event and queue a delivery to every enabled endpoint of the site that asked for
    its type (``only_endpoint``: to that one endpoint, whatever it asked for: the test event)."""
    at = now or utcnow()
    data = {"site": site.key, "site_name": site.name, **data}
    event = await Event.create(site_id=site.id, type=type, data=data, created_at=at)
    endpoints = WebhookEndpoint.filter(site_id=site.id, enabled=True)
    if only_endpoint is not None:
        endpoints = endpoints.filter(id=only_endpoint)
    wanted = [e for e in await endpoints if only_endpoint is not None or type in e.events]
    if wanted:
        await Delivery.bulk_create([
            Delivery(event_id=event.id, endpoint_id=e.id, due_at=at, created_at=at)
            for e in wanted
        ])
    return event

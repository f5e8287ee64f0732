"""Webhook endpoints per site: added by owners, each with the events it wants and a secret
shown once; every delivery signed as the Standard Webhooks specification says
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``: HMAC-SHA256 over
``id.timestamp.body``, by the ``standardwebhooks`` package). Delivering is ``deliveries.py``'s.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from standardwebhooks import Webhook
from tortoise.transactions import in_transaction

from .._utils import utcnow
from ..errors import InvalidRequest, NotFound
from ..models import Delivery, DeliveryAttempt, Event, Site, WebhookEndpoint
from . import audit
from .events import EVENT_LABELS, emit
from .scans import check_target

if TYPE_CHECKING:
    from .staff import Actor

__all__ = [
    "add_endpoint",
    "endpoint_of",
    "endpoints",
    "log",
    "remove_endpoint",
    "send_again",
    "send_test",
    "set_enabled",
    "signed_request",
]

MAX_ENDPOINTS = 20
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _checked_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_LABELS))
    if unknown:
        raise InvalidRequest(f"unknown events: {', '.join(unknown)}", field="events")
    if not events:
        raise InvalidRequest("choose at least one event", field="events")
    return [e for e in EVENT_LABELS if e in events]  # in the labels' order, once each


async def add_endpoint(
    site: Site, url: str, events: list[str], *, actor: Actor | None, allow_private: bool,
    description: str = "",
) -> WebhookEndpoint:
    """A new endpoint with a new secret (``endpoint.secret``: show it once)."""
    url = url.strip()
    if not url.startswith(("https://", "http://")):
        raise InvalidRequest("a webhook URL starts with https:// (or http://)", field="url")
    await check_target(url, allow_private, field="url")
    chosen = _checked_events(events)
    description = description.strip()[:200]
    async with in_transaction():
        if await WebhookEndpoint.filter(site=site).count() >= MAX_ENDPOINTS:
            raise InvalidRequest(f"a site has at most {MAX_ENDPOINTS} webhook endpoints",
                                 field="url")
        endpoint = await WebhookEndpoint.create(
            site=site, url=url, events=chosen, secret=new_secret(), description=description,
            created_by=actor.email if actor else audit.SYSTEM,
        )
        await audit.record(actor, "webhook.add", "webhook", endpoint.id, site=site,
                           after={"url": url, "events": chosen, "description": description})
    return endpoint


async def endpoints(site: Site) -> list[WebhookEndpoint]:
    return list(await WebhookEndpoint.filter(site=site).order_by("id"))


async def endpoint_of(site: Site, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id, site=site)
    if endpoint is None:
        raise NotFound("no such webhook endpoint")
    return endpoint


async def set_enabled(endpoint: WebhookEndpoint, enabled: bool, *, actor: Actor | None) -> None:
    async with in_transaction():
        before = {"enabled": endpoint.enabled, "disabled_reason": endpoint.disabled_reason}
        endpoint.enabled = enabled
        by = actor.email if actor else audit.SYSTEM
        endpoint.disabled_reason = None if enabled else f"turned off by {by}"
        endpoint.failing_since = None
        await endpoint.save(update_fields=["enabled", "disabled_reason", "failing_since"])
        await audit.record(actor, "webhook.enable" if enabled else "webhook.disable", "webhook",
                           endpoint.id, site=await endpoint.site, before=before,
                           after={"enabled": enabled})


async def remove_endpoint(endpoint: WebhookEndpoint, *, actor: Actor | None) -> None:
    async with in_transaction():
        await audit.record(actor, "webhook.remove", "webhook", endpoint.id,
                           site=await endpoint.site,
                           before={"url": endpoint.url, "events": endpoint.events})
        await endpoint.delete()


async def send_test(endpoint: WebhookEndpoint, *, actor: Actor | None) -> Event:
    """A ``webhook.test`` event to this endpoint only, delivered by the workers like any."""
    return await emit(await endpoint.site, "webhook.test",
                      {"message": "A test event from the consent platform",
                       "sent_by": actor.email if actor else audit.SYSTEM},
                      only_endpoint=endpoint.id)


async def send_again(endpoint: WebhookEndpoint, delivery_id: int) -> Delivery:
    """The same event (same ``webhook-id``, so a receiver can tell) queued again at once."""
    delivery = await Delivery.get_or_none(id=delivery_id, endpoint=endpoint)
    if delivery is None:
        raise NotFound("no such delivery")
    now = utcnow()
    return await Delivery.create(event_id=delivery.event_id, endpoint=endpoint, due_at=now,
                                 created_at=now)


async def log(endpoint: WebhookEndpoint, *, limit: int = 50) -> list[dict[str, Any]]:
    """The endpoint's latest deliveries, newest first, each with its attempts."""
    deliveries = await (Delivery.filter(endpoint=endpoint).order_by("-id").limit(limit)
                        .prefetch_related("event"))
    tries: dict[int, list[DeliveryAttempt]] = {}
    for attempt in await DeliveryAttempt.filter(
        delivery_id__in=[d.id for d in deliveries]
    ).order_by("id"):
        tries.setdefault(attempt.delivery_id, []).append(attempt)
    return [{"delivery": d, "event": d.event, "attempts": tries.get(d.id, [])}
            for d in deliveries]


def payload(event: Event) -> bytes:
    """The body: the specification's envelope, type, timestamp and data."""
    return orjson.dumps({"type": event.type, "timestamp": event.created_at, "data": event.data},
                        option=orjson.OPT_UTC_Z)


def message_id(event: Event) -> str:
    return f"msg_{event.id}"


def signed_request(endpoint: WebhookEndpoint, event: Event, now: datetime) -> tuple[
    bytes, dict[str, str]
]:
    body = payload(event)
    msg_id = message_id(event)
    signature = Webhook(endpoint.secret).sign(msg_id, now, body.decode())
    return body, {
        "Content-Type": "application/json",
        "User-Agent": "cmp-server webhooks",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }

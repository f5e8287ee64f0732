"""Events and their delivery: webhooks, deliveries and attempts, mail subscriptions and
preferences, and the revisions that stamp versions of edited things.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from .sites import Site
    from .staff import Staff

__all__ = [
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "MailPreference",
    "MailSubscription",
    "Revision",
    "WebhookEndpoint",
]


class WebhookEndpoint(Model):
    """A URL an owner asked us to POST a site's events to, signed as the Standard Webhooks
    specification says with the endpoint's own secret (``services/webhooks.py``). The secret
    is kept as it is, since every delivery is signed with it; the admin shows it once."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="webhooks", on_delete=fields.CASCADE
    )
    site_id: int
    url = fields.CharField(max_length=2048)
    description = fields.CharField(max_length=200, default="")
    events: fields.Field[list[str]] = fields.JSONField(default=list)
    secret = fields.CharField(max_length=128)
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.CharField(max_length=300, null=True)
    # The first failure since the last success: a day of failures disables the endpoint.
    failing_since = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    created_by = fields.CharField(max_length=254, default="")

    class Meta:
        table = "webhook_endpoint"

class Event(Model):
    """Something staff may want to hear about (``services/events.py``), kept so that every
    delivery of it, by webhook or by mail, can be made again."""

    id = fields.BigIntField(primary_key=True)
    # None: an event of the installation (an account locked), for owners by mail.
    site: fields.ForeignKeyNullableRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="events", null=True, on_delete=fields.CASCADE
    )
    site_id: int | None
    type = fields.CharField(max_length=64)
    data: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        table = "event"
        indexes = (Index(fields=("site_id", "created_at")),)

class Delivery(Model):
    """One event on its way to one endpoint, claimed by one worker at a time
    (``services/deliveries.py``): pending until it is delivered or given up on."""

    id = fields.BigIntField(primary_key=True)
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="deliveries", on_delete=fields.CASCADE
    )
    event_id: int
    # A webhook delivery names its endpoint; a mail (at once, or in the daily digest) its
    # recipient.
    channel = fields.CharField(max_length=16, default="webhook")  # webhook|mail|digest|witness
    endpoint: fields.ForeignKeyNullableRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", null=True, on_delete=fields.CASCADE
    )
    endpoint_id: int | None
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="mail_deliveries", null=True, on_delete=fields.CASCADE
    )
    staff_id: int | None
    status = fields.CharField(max_length=16, default="pending")  # pending | delivered | given_up
    attempts = fields.IntField(default=0)
    # When it may be tried next; a claim moves it a lease ahead, so that the deliveries of a
    # worker that died are tried again by another.
    due_at = fields.DatetimeField()
    claimed_by = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "delivery"
        indexes = (Index(fields=("status", "due_at")),)

class DeliveryAttempt(Model):
    """One try at a delivery: what the endpoint answered, or why nothing was."""

    id = fields.BigIntField(primary_key=True)
    delivery: fields.ForeignKeyRelation[Delivery] = fields.ForeignKeyField(
        "models.Delivery", related_name="tries", on_delete=fields.CASCADE
    )
    delivery_id: int
    at = fields.DatetimeField()
    status_code = fields.IntField(null=True)
    duration_ms = fields.IntField()
    excerpt = fields.TextField(default="")
    error = fields.CharField(max_length=300, null=True)

    class Meta:
        table = "delivery_attempt"

class MailSubscription(Model):
    """Which of a site's events reach a staff member by mail: at once or in a daily digest."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="subscriptions", on_delete=fields.CASCADE
    )
    staff_id: int
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="subscriptions", on_delete=fields.CASCADE
    )
    site_id: int
    event = fields.CharField(max_length=64)
    mode = fields.CharField(max_length=16)  # instant | digest

    class Meta:
        table = "mail_subscription"
        unique_together = (("staff", "site", "event"),)

class MailPreference(Model):
    """A staff member's language for mail (en, sv or da)."""

    staff: fields.OneToOneRelation[Staff] = fields.OneToOneField(
        "models.Staff", related_name="mail_preference", on_delete=fields.CASCADE,
        primary_key=True,
    )
    staff_id: int
    language = fields.CharField(max_length=8, default="en")

    class Meta:
        table = "mail_preference"

class Revision(Model):
    """The version of a thing staff edit, the id of the audit entry of its last change."""

    id = fields.IntField(primary_key=True)
    # What it is the version of (``services/revisions.py``): texts:12:sv, item:345, staff:3
    key = fields.CharField(max_length=120, unique=True)
    stamp = fields.BigIntField(default=0)

    class Meta:
        table = "revision"

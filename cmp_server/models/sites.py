"""The site and what it publishes: purposes, vendors, the cookie inventory, blocking rules, the
logo and published config versions.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

__all__ = [
    "BlockingRule",
    "ConfigVersion",
    "InventoryItem",
    "Logo",
    "Purpose",
    "Site",
    "Vendor",
    "vendor_sort",
]


class Site(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=200)
    domains: fields.Field[list[str]] = fields.JSONField(default=list)
    languages: fields.Field[list[str]] = fields.JSONField(default=list)
    default_language = fields.CharField(max_length=8, default="en")
    consent_lifetime_days = fields.IntField(default=180)
    receipt_retention_days = fields.IntField(default=1095)
    cookie_domain = fields.CharField(max_length=255, null=True)
    policy_url = fields.CharField(max_length=2000, null=True)
    # Draft banner texts {language: {text_key: text}} and options; published by snapshot.
    texts: fields.Field[dict[str, dict[str, str]]] = fields.JSONField(default=dict)
    options: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    # The draft banner's look (``schemas.Appearance`` as JSON; null: the default look).
    appearance: fields.Field[dict[str, object] | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "site"

class Purpose(Model):
    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="purposes", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=40)
    required = fields.BooleanField(default=False)
    order = fields.IntField(default=0)
    name: fields.Field[dict[str, str]] = fields.JSONField(default=dict)
    description: fields.Field[dict[str, str]] = fields.JSONField(default=dict)

    class Meta:
        table = "purpose"
        unique_together = (("site", "key"),)

class Vendor(Model):
    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="vendors", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=64)
    name = fields.CharField(max_length=200)
    country = fields.CharField(max_length=2, null=True)
    privacy_policy_url = fields.CharField(max_length=2000, null=True)
    # None: not known yet (found by a scan, no facts in the knowledge base); the banner then
    # says data may be transferred.
    transfers_outside_eea = fields.BooleanField(null=True, default=None)
    transfer_basis = fields.CharField(max_length=200, null=True)
    description: fields.Field[dict[str, str]] = fields.JSONField(default=dict)

    class Meta:
        table = "vendor"
        unique_together = (("site", "key"),)

class InventoryItem(Model):
    """A cookie or storage key the site sets (by name or name prefix)."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="inventory", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=255)
    match = fields.CharField(max_length=8, default="exact")  # exact | prefix
    kind = fields.CharField(max_length=16, default="cookie")  # cookie | localStorage | ...
    domain = fields.CharField(max_length=255, null=True)
    vendor: fields.ForeignKeyNullableRelation[Vendor] = fields.ForeignKeyField(
        "models.Vendor", related_name="items", null=True, on_delete=fields.SET_NULL
    )
    # Null purpose means unclassified: never published as belonging to a purpose.
    purpose: fields.ForeignKeyNullableRelation[Purpose] = fields.ForeignKeyField(
        "models.Purpose", related_name="items", null=True, on_delete=fields.SET_NULL
    )
    duration_days = fields.IntField(null=True)
    party = fields.CharField(max_length=8, default="first")  # first | third
    description: fields.Field[dict[str, str]] = fields.JSONField(default=dict)
    source = fields.CharField(max_length=16, default="manual")  # manual | scan | import
    # unreviewed | reviewed | gone (staff said it is no longer set: left out of the banner)
    review_status = fields.CharField(max_length=16, default="unreviewed")
    first_seen = fields.DatetimeField(null=True)
    last_seen = fields.DatetimeField(null=True)
    missing_since = fields.DatetimeField(null=True)  # the last scan did not see it
    # What the knowledge base suggested when a scan found the item, kept beside what staff
    # chose: a category key (necessary ... marketing, or unclassified) and a vendor.
    suggested_purpose = fields.CharField(max_length=16, null=True)
    suggested_vendor = fields.CharField(max_length=64, null=True)
    suggested_vendor_name = fields.CharField(max_length=200, null=True)
    suggested_duration_days = fields.IntField(null=True)
    suggested_description = fields.TextField(null=True)
    # The latest scan that saw it saw it in the none or reject pass (before consent).
    before_consent = fields.BooleanField(default=False, db_default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    # The list's vendor order kept on the row (:func:`vendor_sort`), so that sorting by vendor
    # reads an index instead of joining and sorting every item of the site. Written wherever
    # an item's vendor or a vendor's name is set.
    vendor_sort = fields.CharField(max_length=201, default="1", db_default="1")

    class Meta:
        table = "inventory_item"
        # (site_id, name): the inventory list's default order, paged by the database;
        # (site_id, vendor_sort, name, id): its order by vendor, the same way.
        indexes = (Index(fields=("site_id", "kind", "name")), Index(fields=("site_id", "name")),
                   Index(fields=("site_id", "vendor_sort", "name", "id")))

def vendor_sort(vendor_name: str | None) -> str:
    """An item's :attr:`InventoryItem.vendor_sort`: ``"0"`` and its vendor's name, or ``"1"``
    without a vendor, so that items without one come last ascending (first descending) on
    both databases, in one column an index can hold."""
    return "1" if vendor_name is None else "0" + vendor_name

class BlockingRule(Model):
    """Staff's own blocking rule for a host and path prefix (``services/blocking.py``): added
    by hand, or a derived rule changed (``purposes``) or turned off (``enabled``)."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="blocking_rules", on_delete=fields.CASCADE
    )
    host = fields.CharField(max_length=253)
    path = fields.CharField(max_length=500, default="")
    # None: the derived rule's purposes; []: never blocked (an exemption)
    purposes: fields.Field[list[str] | None] = fields.JSONField(null=True)
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "blocking_rule"
        unique_together = (("site", "host", "path"),)

class Logo(Model):
    """An uploaded banner logo (``services/appearance.py``), kept by its content: served at
    ``/v1/logos/{sha256}.{ext}`` from our own origin, never from the site's."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="logos", on_delete=fields.CASCADE
    )
    sha256 = fields.CharField(max_length=64)
    media_type = fields.CharField(max_length=16)  # image/png | image/jpeg | image/webp
    width = fields.IntField()
    height = fields.IntField()
    data = fields.BinaryField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "logo"
        unique_together = (("site", "sha256"),)
        indexes = (("sha256",),)

class ConfigVersion(Model):
    """An immutable published snapshot of a site's banner config."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="versions", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    canonical_json = fields.TextField()
    content_hash = fields.CharField(max_length=64)
    material_hash = fields.CharField(max_length=64)
    # {language: sha256 of exactly the texts a visitor sees in that language}
    text_hashes: fields.Field[dict[str, str]] = fields.JSONField(default=dict)
    published_at = fields.DatetimeField(auto_now_add=True)
    published_by = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "config_version"
        unique_together = (("site", "number"),)

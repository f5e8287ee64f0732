"""Tortoise models. Stored enum values (``method``, ``kind``, ``review_status``...) are only
ever added to, never renamed: receipts written years ago must still read back.

Receipts are append-only: no code path updates one; only the retention purge deletes.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

__all__ = [
    "ApiToken",
    "ApiTokenSite",
    "AuditEntry",
    "BlockingRule",
    "Checkpoint",
    "ConfigVersion",
    "ConsentDaily",
    "ConsentReceipt",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "InstallationSetting",
    "InventoryItem",
    "Logo",
    "MailPreference",
    "MailSubscription",
    "PasswordReset",
    "Purpose",
    "PurgeLog",
    "ReceiptChainRepair",
    "ReceiptLeaf",
    "RecoveryCode",
    "Revision",
    "Scan",
    "ScanJob",
    "ScanSchedule",
    "SigningKey",
    "Site",
    "Staff",
    "StaffSession",
    "StaffSite",
    "TreeNode",
    "Vendor",
    "WebhookEndpoint",
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


class ConsentReceipt(Model):
    id = fields.BigIntField(primary_key=True)
    site_id: int
    receipt_id = fields.UUIDField(unique=True)
    consent_id = fields.UUIDField()
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="receipts", on_delete=fields.RESTRICT
    )
    config_version = fields.IntField()
    texts_hash = fields.CharField(max_length=64)
    language = fields.CharField(max_length=8)
    choices: fields.Field[dict[str, bool]] = fields.JSONField()
    method = fields.CharField(max_length=16)  # accept_all | reject_all | custom | withdraw | gpc
    layer = fields.CharField(max_length=8)  # first | second
    page_url = fields.TextField()
    recorded_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    user_agent = fields.TextField()
    ip_truncated = fields.CharField(max_length=64, null=True)
    previous_receipt_id = fields.UUIDField(null=True)
    # sha256 of what the client sent: the same receipt id with other content is a conflict.
    content_hash = fields.CharField(max_length=64)
    # sha256 over the previous receipt's record_hash and this record: a chain per site and
    # visitor (per visitor alone before migration 0017: see ReceiptChainRepair).
    record_hash = fields.CharField(max_length=64)

    class Meta:
        table = "consent_receipt"
        # (site_id, consent_id, id): a visitor's receipts on a site in order, and the last one
        # found without walking the primary key (what the receipt writer checks before each
        # insert).
        indexes = (
            Index(fields=("site_id", "recorded_at")),
            Index(fields=("site_id", "consent_id", "id")),
        )


class ReceiptChainRepair(Model):
    """A receipt chained across sites before 0017, and its predecessor on its own site."""

    # Append-only, like the receipts (migration 0017): a receipt stored before chains were per
    # site may link to the visitor's receipt on another site, and its record hash covers that
    # receipt's hash. Receipts are never rewritten, so this row says which receipt precedes it
    # on its own site, and the hash it was chained over, as both stood when 0017 ran.
    id = fields.BigIntField(primary_key=True)
    receipt_id = fields.UUIDField(unique=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="chain_repairs", on_delete=fields.CASCADE
    )
    site_id: int
    # The receipt before it on its own site (None: its first there).
    previous_receipt_id = fields.UUIDField(null=True)
    # The record hash of the receipt its stored link names: what its own hash covers.
    linked_hash = fields.CharField(max_length=64)
    repaired_at = fields.DatetimeField()

    class Meta:
        table = "receipt_chain_repair"


class ReceiptLeaf(Model):
    """A receipt's place in its site's Merkle tree (``services/checkpoints.py``): positions from
    0, in the order the receipts were stored, each assigned once and never changed (UPDATE is
    refused, migration 0018). The leaf outlives its receipt: the retention purge deletes
    receipts, not the tree they are part of."""

    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="leaves", on_delete=fields.RESTRICT
    )
    site_id: int
    position = fields.BigIntField()
    # consent_receipt.id, without a foreign key: the purge may delete the receipt.
    receipt_pk = fields.BigIntField(unique=True)
    receipt_id = fields.UUIDField()
    recorded_at = fields.DatetimeField()
    leaf_hash = fields.CharField(max_length=64)  # RFC 6962: SHA-256(0x00 || record hash)

    class Meta:
        table = "receipt_leaf"
        unique_together = (("site", "position"),)


class TreeNode(Model):
    """A complete subtree of a site's Merkle tree: the hash of the 2**level leaves from
    position node_index * 2**level (``services/tree_store.py``). Only every ``STRIDE``-th level
    is kept (4, 8, 12, ...: one row per 15 leaves); any other subtree is a few of these, or
    of the leaves, hashed together, so a proof reads O(log n) rows. Written with the leaves
    by the checkpoint run, never changed (migration 0022)."""

    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="tree_nodes", on_delete=fields.RESTRICT
    )
    site_id: int
    level = fields.SmallIntField()
    node_index = fields.BigIntField()
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "tree_node"
        unique_together = (("site", "level", "node_index"),)


class SigningKey(Model):
    """A checkpoint signing key's public half (the private half lives in a file, never here).
    A key after the first carries the previous key's signature over its statement."""

    key_id = fields.CharField(max_length=16, primary_key=True)
    public_key = fields.CharField(max_length=64)  # base64 of the 32 raw bytes
    created_at = fields.DatetimeField()
    retired_at = fields.DatetimeField(null=True)
    endorsed_by = fields.CharField(max_length=16, default="")
    endorsement = fields.CharField(max_length=100, default="")  # base64 Ed25519 signature

    class Meta:
        table = "signing_key"


class Checkpoint(Model):
    """A signed statement of a site's tree: its size and root at a time (``cmp_verify.
    checkpoint`` has the format). Append-only; each names the one before by its hash."""

    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="checkpoints", on_delete=fields.RESTRICT
    )
    site_id: int
    tree_size = fields.BigIntField()
    root_hash = fields.CharField(max_length=64)
    signed_at = fields.DatetimeField()
    key_id = fields.CharField(max_length=16)
    previous_hash = fields.CharField(max_length=64)  # "" for the site's first
    body = fields.TextField()  # the exact signed bytes, UTF-8
    signature = fields.CharField(max_length=100)  # base64
    # The tree's right edge at this size (hex, JSON list): where the next checkpoint goes on
    # from. Not signed; checked against the root whenever it is used.
    frontier = fields.TextField()

    class Meta:
        table = "checkpoint"
        unique_together = (("site", "tree_size"), ("site", "previous_hash"))


class ConsentDaily(Model):
    """Consent receipts counted per site, UTC day, method and purpose (services/counters.py)."""

    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="consent_counts", on_delete=fields.CASCADE
    )
    site_id: int
    day = fields.DateField()
    method = fields.CharField(max_length=16)
    # '': the method's receipts; a purpose key: the receipts that decided on that purpose.
    purpose = fields.CharField(max_length=40, default="")
    receipts = fields.IntField(default=0)
    granted = fields.IntField(default=0)  # of those, the ones that granted the purpose

    class Meta:
        table = "consent_daily"
        # The upsert's conflict target, and the index every read of the chart uses.
        unique_together = (("site", "purpose", "day", "method"),)


class PurgeLog(Model):
    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyNullableRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="purges", null=True, on_delete=fields.SET_NULL
    )
    cutoff = fields.DatetimeField()
    deleted = fields.IntField()
    trigger = fields.CharField(max_length=16)  # cli | schedule
    ran_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "purge_log"


# Model docstrings become table comments; Tortoise's SQLite migrator splits on ";", so keep
# them to one plain sentence.


class ScanJob(Model):
    """A requested scan, claimed by one worker at a time and claimed again if it goes stale."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="scan_jobs", on_delete=fields.CASCADE
    )
    site_id: int
    status = fields.CharField(max_length=16, default="queued")  # queued | running | done | failed
    options: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    requested_by = fields.CharField(max_length=200, null=True)
    requested_at = fields.DatetimeField(auto_now_add=True)
    claimed_by = fields.CharField(max_length=200, null=True)
    claimed_at = fields.DatetimeField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    progress: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    finished_at = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)

    class Meta:
        table = "scan_job"
        indexes = (Index(fields=("status", "requested_at")),)


class ScanSchedule(Model):
    """A recurring scan of a site: its pages, budget, passes and when it runs."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="scan_schedules", on_delete=fields.CASCADE
    )
    site_id: int
    start_url = fields.CharField(max_length=2000, null=True)  # null: the first domain's
    extra_urls: fields.Field[list[str]] = fields.JSONField(default=list)
    all_domains = fields.BooleanField(default=False)  # each domain's start page as well
    max_pages = fields.IntField(default=30)
    passes: fields.Field[list[str]] = fields.JSONField(default=list)
    # daily | weekly | monthly | every_6_hours | every_12_hours, at time_of_day (HH:MM, UTC);
    # weekly on weekday (0: Monday), monthly on day_of_month (1-28).
    frequency = fields.CharField(max_length=16, default="daily")
    time_of_day = fields.CharField(max_length=5, default="03:00")
    weekday = fields.IntField(default=0)
    day_of_month = fields.IntField(default=1)
    enabled = fields.BooleanField(default=True)
    next_run_at = fields.DatetimeField(null=True)  # null: disabled
    last_queued_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "scan_schedule"
        indexes = (Index(fields=("enabled", "next_run_at")),)


class Scan(Model):
    """A finished scan: the scanner's report as it came, and what changed since the last one."""

    id = fields.IntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="scans", on_delete=fields.CASCADE
    )
    job: fields.ForeignKeyNullableRelation[ScanJob] = fields.ForeignKeyField(
        "models.ScanJob", related_name="scans", null=True, on_delete=fields.SET_NULL
    )
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField()
    report = fields.TextField()
    summary: fields.Field[dict[str, object]] = fields.JSONField(default=dict)
    diff: fields.Field[dict[str, object]] = fields.JSONField(default=dict)

    class Meta:
        table = "scan"


class Staff(Model):
    """A staff account of the admin view, with one role: owner, privacy or viewer."""

    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=200, default="")
    password_hash = fields.CharField(max_length=255)
    role = fields.CharField(max_length=16)  # owner | privacy | viewer
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    password_changed_at = fields.DatetimeField(null=True)
    # The sign-in lock (services/staff.py): failures in the current window, when the last one
    # was, and until when the account is locked. In the database, so that every server process
    # sees it and an owner's unlock reaches them all.
    failed_logins = fields.IntField(default=0)
    last_failed_at = fields.DatetimeField(null=True)
    locked_until = fields.DatetimeField(null=True)
    # Two-factor sign-in (services/two_factor.py): the TOTP secret, sealed (AES-GCM under a key
    # derived from the server's secret); the one being enrolled until a code confirms it; the
    # time step of the last code accepted, so that no code counts twice.
    totp_secret = fields.CharField(max_length=255, null=True)
    totp_pending = fields.CharField(max_length=255, null=True)
    totp_enabled_at = fields.DatetimeField(null=True)
    totp_last_step = fields.BigIntField(null=True)
    # Limited to the sites in ``StaffSite`` (services/staff_sites.py); unlimited when false.
    site_limited = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "staff"


class StaffSession(Model):
    """A signed-in staff session, looked up by the id the signed cookie holds."""

    id = fields.CharField(max_length=64, primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="sessions", on_delete=fields.CASCADE
    )
    staff_id: int
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField()
    user_agent = fields.CharField(max_length=300, default="")

    class Meta:
        table = "staff_session"


class RecoveryCode(Model):
    """A one-time recovery code for two-factor sign-in: only its SHA-256 is kept."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="recovery_codes", on_delete=fields.CASCADE
    )
    staff_id: int
    code_hash = fields.CharField(max_length=64)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "recovery_code"
        indexes = (Index(fields=("staff_id", "code_hash")),)


class StaffSite(Model):
    """A site a site-limited account may see (``Staff.site_limited``)."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="site_grants", on_delete=fields.CASCADE
    )
    staff_id: int
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="staff_grants", on_delete=fields.CASCADE
    )
    site_id: int

    class Meta:
        table = "staff_site"
        unique_together = (("staff", "site"),)


class InstallationSetting(Model):
    """A setting of the whole installation that owners change in the admin (not in the
    environment): ``key`` → a JSON value (``owner_two_factor``: owners must use 2FA)."""

    key = fields.CharField(max_length=64, primary_key=True)
    value: fields.Field[object] = fields.JSONField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "installation_setting"


class PasswordReset(Model):
    """A one-time password-reset link an owner issued (``services/password_reset.py``): only
    the SHA-256 of its token is kept, so the table does not hold usable links."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="resets", on_delete=fields.CASCADE
    )
    staff_id: int
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "password_reset"


class AuditEntry(Model):
    """One change made by staff, written in the same transaction as the change."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True)
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="audit", null=True, on_delete=fields.SET_NULL
    )
    # Kept as written: the account may be renamed or removed later.
    actor = fields.CharField(max_length=254)
    site: fields.ForeignKeyNullableRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="audit", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=64)
    object_type = fields.CharField(max_length=32)
    object_id = fields.CharField(max_length=64, null=True)
    before: fields.Field[dict[str, object] | None] = fields.JSONField(null=True)
    after: fields.Field[dict[str, object] | None] = fields.JSONField(null=True)

    class Meta:
        table = "audit_entry"
        indexes = (
            Index(fields=("site_id", "id")),
            Index(fields=("staff_id", "id")),
            Index(fields=("action", "id")),  # the audit log's filter by action
            Index(fields=("at",)),  # and by date range
        )


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


class ApiToken(Model):
    """A bearer token for the JSON admin API (``services/api_tokens.py``): scoped to read or
    write and to chosen sites (or all), with an expiry. Only the SHA-256 of the secret is kept;
    ``public_id`` is the part of the token shown in lists and logs (``cmp_<public_id>_…``)."""

    id = fields.IntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    name = fields.CharField(max_length=80)
    secret_hash = fields.CharField(max_length=64)
    scope = fields.CharField(max_length=8)  # read or write
    all_sites = fields.BooleanField(default=False)
    created_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="api_tokens", null=True, on_delete=fields.SET_NULL
    )
    created_by_id: int | None
    created_by_email = fields.CharField(max_length=254, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"


class ApiTokenSite(Model):
    """A site an API token may reach (unless ``ApiToken.all_sites``)."""

    id = fields.IntField(primary_key=True)
    token: fields.ForeignKeyRelation[ApiToken] = fields.ForeignKeyField(
        "models.ApiToken", related_name="site_grants", on_delete=fields.CASCADE
    )
    token_id: int
    site: fields.ForeignKeyRelation[Site] = fields.ForeignKeyField(
        "models.Site", related_name="api_token_grants", on_delete=fields.CASCADE
    )
    site_id: int

    class Meta:
        table = "api_token_site"
        unique_together = (("token", "site"),)

"""Staff accounts and what hangs on them: sessions, recovery codes, site limits, password resets,
installation settings, the audit log and API tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from .sites import Site

__all__ = [
    "ApiToken",
    "ApiTokenSite",
    "AuditEntry",
    "InstallationSetting",
    "PasswordReset",
    "RecoveryCode",
    "Staff",
    "StaffSession",
    "StaffSite",
]


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

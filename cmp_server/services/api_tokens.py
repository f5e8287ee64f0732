"""API tokens: what lets a script or CI job use the JSON admin API (``admin/api``) in the name
of the owner who made the token.

A token is ``cmp_<public id>_<secret>``: 32 random bytes of secret, shown once when it is
made; only its SHA-256 is kept (a hash of a high-entropy secret needs no slow hashing), and
the public id, which names the token in lists, logs and the audit log without giving it away.
Each token reads (``read``: the viewer role) or also changes (``write``: the privacy role)
the sites it was given, or every site; it expires (at most a year out), can be revoked, and
acts as its owner: it stops working when that account is disabled, removed or no owner any
more, and never reaches a site the account may no longer see. What it changes is audited as
``token:NAME`` under the owner's account.

The last-used time is written at most once a minute per token (``TOUCH_EVERY``): a script
calling the API in a loop does not turn every read into a write.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from .._utils import sha256_hex, utcnow
from ..errors import CmpError, Conflict, InvalidRequest, NotFound
from ..models import ApiToken, ApiTokenSite, Site, StaffSite
from . import audit
from ._text import check_text
from .staff import Actor

__all__ = [
    "MAX_LIFETIME",
    "PREFIX",
    "SCOPES",
    "TOUCH_EVERY",
    "IssuedToken",
    "TokenRefused",
    "TokenRow",
    "authenticate",
    "create_token",
    "list_tokens",
    "revoke",
]

PREFIX = "cmp_"
SCOPES = ("read", "write")
ROLE_OF = {"read": "viewer", "write": "privacy"}
MAX_LIFETIME = timedelta(days=366)
TOUCH_EVERY = timedelta(minutes=1)
MAX_NAME = 80

Scope = Literal["read", "write"]


class TokenRefused(CmpError):
    """No token, or one that is unknown, revoked, expired or whose owner can no longer use
    it: the API answers 401 (the detail says which, the token itself is never echoed)."""

    code = "invalid_token"


@dataclass(frozen=True)
class IssuedToken:
    row: ApiToken
    secret: str  # the whole token, shown once


@dataclass(frozen=True)
class TokenRow:
    """A token as the owners' list shows it."""

    id: int
    public_id: str
    name: str
    scope: str
    sites: tuple[str, ...] | None  # site names; None: every site
    created_by: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= utcnow() else "active"


def _hash(token: str) -> str:
    return sha256_hex(token.encode())


def actor_name(name: str) -> str:
    return f"token:{name}"


async def create_token(
    name: str, scope: str, site_ids: Iterable[int] | None, expires_at: datetime, *, by: Actor
) -> IssuedToken:
    """A new token (``site_ids`` None: every site), audited. Only an owner of every site makes
    tokens; the whole token is in the answer and nowhere else."""
    if by.role != "owner" or by.sites is not None:
        raise InvalidRequest("Only an owner of every site makes API tokens.")
    text = check_text(name, "a token's name", MAX_NAME)
    if not text:
        raise InvalidRequest("Give the token a name, e.g. what uses it.", field="name")
    if scope not in SCOPES:
        raise InvalidRequest("choose read or write", field="scope")
    now = utcnow()
    if not now < expires_at <= now + MAX_LIFETIME:
        raise InvalidRequest("a token expires within a year from today", field="expires")
    wanted = None if site_ids is None else frozenset(site_ids)
    public_id = secrets.token_hex(6)
    token = f"{PREFIX}{public_id}_{secrets.token_urlsafe(32)}"
    async with in_transaction():
        found = {s.id: s.key for s in await Site.filter(id__in=wanted)} if wanted else {}
        if wanted is not None and (not wanted or len(found) != len(wanted)):
            raise InvalidRequest("Choose one or more sites from the list, or every site.",
                                 field="sites")
        if await ApiToken.filter(name=text, revoked_at=None).exists():
            raise Conflict(f"there is already a token named {text!r}: give another name",
                           field="name")
        row = await ApiToken.create(
            public_id=public_id, name=text, secret_hash=_hash(token), scope=scope,
            all_sites=wanted is None, created_by_id=by.id, created_by_email=by.email,
            expires_at=expires_at,
        )
        await ApiTokenSite.bulk_create([ApiTokenSite(token_id=row.id, site_id=i)
                                        for i in sorted(found)])
        await audit.record(by, "token.create", "api_token", row.public_id, after={
            "name": text, "scope": scope,
            "sites": "all" if wanted is None else sorted(found.values()),
            "expires_at": expires_at.isoformat(timespec="seconds"),
        })
    return IssuedToken(row, token)


async def list_tokens() -> list[TokenRow]:
    """Every token, the newest first (revoked ones too: what used the API, and until when)."""
    rows = await ApiToken.all().order_by("-id")
    grants = await ApiTokenSite.filter(token_id__in=[r.id for r in rows]).select_related(
        "site").order_by("site__name") if rows else []
    names: dict[int, list[str]] = {}
    for grant in grants:
        names.setdefault(grant.token_id, []).append(grant.site.name)
    return [TokenRow(
        id=r.id, public_id=r.public_id, name=r.name, scope=r.scope,
        sites=None if r.all_sites else tuple(names.get(r.id, ())),
        created_by=r.created_by_email, created_at=r.created_at, expires_at=r.expires_at,
        last_used_at=r.last_used_at, revoked_at=r.revoked_at,
    ) for r in rows]


async def revoke(token_id: int, *, by: Actor) -> None:
    """The token stops working at once (its next request is refused), audited."""
    async with in_transaction():
        row = await ApiToken.select_for_update().get_or_none(id=token_id)
        if row is None:
            raise NotFound(f"there is no API token {token_id}")
        if row.revoked_at is not None:
            return
        row.revoked_at = utcnow()
        await row.save(update_fields=["revoked_at"])
        await audit.record(by, "token.revoke", "api_token", row.public_id,
                           before={"name": row.name, "scope": row.scope})


async def authenticate(token: str) -> Actor:
    """The actor a request with ``token`` acts as, or ``TokenRefused``. The actor's
    ``email`` is ``token:NAME`` (what the audit log records), its ``id`` the owner's account,
    its role ``viewer`` (read) or ``privacy`` (write), its sites those of the token that
    the owner may still see, and its ``session_id`` the token's public id (what a rate limit
    counts by)."""
    public_id, _, secret = token.removeprefix(PREFIX).partition("_")
    if not (token.startswith(PREFIX) and 0 < len(public_id) <= 16 and secret
            and len(token) <= 200):
        raise TokenRefused("not an API token (cmp_…): make one on the API tokens page")
    row = await ApiToken.get_or_none(public_id=public_id).select_related("created_by")
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(token)):
        raise TokenRefused("unknown API token")
    now = utcnow()
    if row.revoked_at is not None:
        raise TokenRefused(f"API token {row.public_id} was revoked")
    if row.expires_at <= now:
        raise TokenRefused(f"API token {row.public_id} has expired")
    owner = row.created_by
    if owner is None or not owner.active or owner.role != "owner":
        raise TokenRefused(f"API token {row.public_id}: the account that made it can no "
                           "longer use it")
    sites: frozenset[int] | None = None
    if not row.all_sites:
        sites = frozenset(g.site_id for g in await ApiTokenSite.filter(token_id=row.id))
    if owner.site_limited:
        granted = frozenset(g.site_id for g in await StaffSite.filter(staff_id=owner.id))
        sites = granted if sites is None else sites & granted
    if row.last_used_at is None or row.last_used_at <= now - TOUCH_EVERY:
        # One write a minute at most; a concurrent request that touched it first wins.
        await ApiToken.filter(Q(id=row.id) & (Q(last_used_at__isnull=True)
                                              | Q(last_used_at__lte=now - TOUCH_EVERY))
                              ).update(last_used_at=now)
    return Actor(id=owner.id, email=actor_name(row.name), name=row.name,
                 role=ROLE_OF[row.scope], session_id=row.public_id, csrf_token="",
                 sites=sites)

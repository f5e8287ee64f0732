"""A site's vendors: who receives what its cookies hold, where they are, and on what basis
data leaves the EU/EEA (``transfers_outside_eea``: ``True``, ``False`` or ``None`` for not
known, which the banner shows as "may be transferred").

A vendor's ``key`` is how the published config names it: made from the name when staff add
one, and never changed afterwards. Every change is audited with before and after in its own
transaction.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from ..errors import Conflict, InvalidRequest, NotFound, as_value_error
from ..models import AuditEntry, InventoryItem, Site, Vendor, vendor_sort
from . import audit, revisions
from ._text import check_text, check_texts
from .sites import check_url
from .staff import Actor

__all__ = [
    "VendorChange",
    "VendorPage",
    "VendorRow",
    "create_vendor",
    "get_vendor",
    "history",
    "item_count",
    "list_vendors",
    "update_vendor",
]

_KEY = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class VendorChange(BaseModel):
    """A vendor as staff set it. ``key``: only when adding one (empty: made from the name)."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    key: str | None = Field(default=None, max_length=64)
    country: str | None = Field(default=None, max_length=2)
    privacy_policy_url: str | None = Field(default=None, max_length=2000)
    transfers_outside_eea: bool | None = None
    transfer_basis: str | None = Field(default=None, max_length=200)
    description: dict[str, str] = Field(default_factory=dict, max_length=40)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return as_value_error(check_text, value, "a name", 200)

    @field_validator("key", mode="before")
    @classmethod
    def _key(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            if text and not _KEY.fullmatch(text):
                raise ValueError("a key has lowercase letters, digits, '.', '_' and '-' only")
            return text or None
        return value

    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().upper()
            if text and not (len(text) == 2 and text.isascii() and text.isalpha()):
                raise ValueError("a country is its two-letter code (ISO 3166), such as SE or US")
            return text or None
        return value

    @field_validator("privacy_policy_url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> Any:
        if isinstance(value, str):
            return as_value_error(check_url, value, "the privacy policy URL", path_ok=False)
        return value

    @field_validator("transfer_basis", mode="before")
    @classmethod
    def _basis(cls, value: Any) -> Any:
        if isinstance(value, str):
            return as_value_error(check_text, value, "the basis", 200) or None
        return value

    @field_validator("description")
    @classmethod
    def _description(cls, value: dict[str, str]) -> dict[str, str]:
        checked = as_value_error(check_texts, value, "a description", 2000)
        return {k: v for k, v in checked.items() if v}



@dataclass(frozen=True, slots=True)
class VendorRow:
    id: int
    key: str
    name: str
    country: str | None
    privacy_policy_url: str | None
    transfers_outside_eea: bool | None
    transfer_basis: str | None
    items: int  # inventory items naming it


@dataclass(frozen=True, slots=True)
class VendorPage:
    vendors: tuple[VendorRow, ...]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


async def list_vendors(
    site: Site, *, search: str = "", page: int = 1, per_page: int = 100
) -> VendorPage:
    """The site's vendors by name, with how many items each has, a page at a time."""
    search = check_text(search, "the search", 200)
    if not 1 <= page <= 1_000_000 or not 1 <= per_page <= 500:
        raise InvalidRequest("page must be a number from 1, per_page from 1 to 500")
    qs = Vendor.filter(site=site)
    if search:
        qs = qs.filter(name__icontains=search)
    total = await qs.count()
    page = min(page, max(1, -(-total // per_page)))
    rows = await (
        qs.annotate(count=Count("items"))
        .group_by("id")
        .order_by("name", "id")
        .offset((page - 1) * per_page)
        .limit(per_page)
        .values(
            "id", "key", "name", "country", "privacy_policy_url", "transfers_outside_eea",
            "transfer_basis", "count",
        )
    )
    return VendorPage(
        tuple(
            VendorRow(
                r["id"], r["key"], r["name"], r["country"], r["privacy_policy_url"],
                None if r["transfers_outside_eea"] is None else bool(r["transfers_outside_eea"]),
                r["transfer_basis"], int(r["count"] or 0),
            )
            for r in rows
        ),
        total, page, per_page,
    )


async def get_vendor(site: Site, vendor_id: int) -> Vendor:
    vendor = await Vendor.get_or_none(site=site, id=vendor_id)
    if vendor is None:
        raise NotFound(f"no vendor {vendor_id} on this site")
    return vendor


async def item_count(site: Site, vendor_id: int) -> int:
    return await InventoryItem.filter(site_id=site.id, vendor_id=vendor_id).count()


async def history(site: Site, vendor_id: int, *, limit: int = 20) -> list[AuditEntry]:
    """Staff's changes to the vendor, newest first."""
    return list(await AuditEntry.filter(
        site_id=site.id, object_type="vendor", object_id=str(vendor_id)
    ).order_by("-id").limit(limit))


def _snapshot(vendor: Vendor) -> dict[str, Any]:
    return {
        "key": vendor.key, "name": vendor.name, "country": vendor.country,
        "privacy_policy_url": vendor.privacy_policy_url,
        "transfers_outside_eea": vendor.transfers_outside_eea,
        "transfer_basis": vendor.transfer_basis, "description": dict(vendor.description or {}),
    }


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:56]
    return slug or "vendor"


async def _free_key(site: Site, name: str) -> str:
    base = _slug(name)
    keys = await Vendor.filter(site=site, key__startswith=base).values_list("key", flat=True)
    taken = {str(k) for k in keys}
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


def _apply(vendor: Vendor, change: VendorChange) -> None:
    vendor.name = change.name
    vendor.country = change.country
    vendor.privacy_policy_url = change.privacy_policy_url
    vendor.transfers_outside_eea = change.transfers_outside_eea
    vendor.transfer_basis = change.transfer_basis if change.transfers_outside_eea else None
    vendor.description = change.description


async def create_vendor(site: Site, change: VendorChange, *, by: Actor | None = None) -> Vendor:
    """Add a vendor; a ``key`` the site already has is a ``Conflict``."""
    async with in_transaction():
        if change.key is not None:
            if await Vendor.exists(site=site, key=change.key):
                raise Conflict(f"this site already has a vendor with the key {change.key!r}",
                               field="key")
            key = change.key
        else:
            key = await _free_key(site, change.name)
        vendor = Vendor(site=site, key=key)
        _apply(vendor, change)
        await vendor.save()
        await audit.record(by, "vendor.create", "vendor", vendor.id, site=site,
                           after=_snapshot(vendor))
    return vendor


async def update_vendor(
    site: Site, vendor_id: int, change: VendorChange, *, by: Actor | None = None,
    version: int | None = None,
) -> Vendor:
    """Staff's edit of a vendor (its key stays), audited with before and after; over
    ``version`` (``revisions.vendor``) when given."""
    async with in_transaction():
        vendor = await Vendor.select_for_update().get_or_none(site=site, id=vendor_id)
        if vendor is None:
            raise NotFound(f"no vendor {vendor_id} on this site")
        before = _snapshot(vendor)
        _apply(vendor, change)
        await vendor.save()
        if vendor.name != before["name"]:  # the items' order by vendor follows its name
            await InventoryItem.filter(site_id=site.id, vendor_id=vendor.id).update(
                vendor_sort=vendor_sort(vendor.name))
        after = _snapshot(vendor)
        if after != before:
            entry = await audit.record(by, "vendor.update", "vendor", vendor.id, site=site,
                                       before=before, after=after)
            await revisions.advance(revisions.vendor(site, vendor.id), entry, version)
    return vendor

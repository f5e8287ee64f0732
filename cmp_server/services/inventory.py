"""Vendors and the cookie inventory of a site (what it sets, by whom, for which purpose)."""

from __future__ import annotations

from ..errors import InvalidRequest
from ..models import InventoryItem, Purpose, Site, Vendor
from .sites import check_url

__all__ = ["ITEM_KINDS", "add_item", "add_vendor"]

ITEM_KINDS = ("cookie", "localStorage", "sessionStorage", "indexedDB")


async def add_vendor(
    site: Site,
    *,
    key: str,
    name: str,
    country: str | None = None,
    privacy_policy_url: str | None = None,
    transfers_outside_eea: bool | None = None,
    transfer_basis: str | None = None,
    description: dict[str, str] | None = None,
) -> Vendor:
    vendor, _ = await Vendor.update_or_create(
        site=site,
        key=key,
        defaults={
            "name": name,
            "country": country.upper() if country else None,
            "privacy_policy_url": check_url(
                privacy_policy_url, "the vendor's privacy policy URL", path_ok=False
            ),
            "transfers_outside_eea": transfers_outside_eea,
            "transfer_basis": transfer_basis,
            "description": description or {},
        },
    )
    return vendor


async def add_item(
    site: Site,
    *,
    name: str,
    kind: str = "cookie",
    purpose: str | None = None,
    vendor: str | None = None,
    match: str = "exact",
    domain: str | None = None,
    duration_days: int | None = None,
    party: str = "first",
    description: dict[str, str] | None = None,
    source: str = "manual",
    review_status: str = "reviewed",
) -> InventoryItem:
    """Add (or update) an inventory item; ``purpose`` and ``vendor`` are keys on this site."""
    if kind not in ITEM_KINDS:
        raise InvalidRequest(f"kind must be one of {ITEM_KINDS}")
    if match not in ("exact", "prefix"):
        raise InvalidRequest("match must be 'exact' or 'prefix'")
    if party not in ("first", "third"):
        raise InvalidRequest("party must be 'first' or 'third'")
    purpose_row = None
    if purpose is not None:
        purpose_row = await Purpose.get_or_none(site=site, key=purpose)
        if purpose_row is None:
            raise InvalidRequest(f"no purpose {purpose!r} on this site")
    vendor_row = None
    if vendor is not None:
        vendor_row = await Vendor.get_or_none(site=site, key=vendor)
        if vendor_row is None:
            raise InvalidRequest(f"no vendor {vendor!r} on this site")
    item, _ = await InventoryItem.update_or_create(
        site=site,
        kind=kind,
        name=name,
        domain=domain,
        defaults={
            "match": match,
            "vendor": vendor_row,
            "purpose": purpose_row,
            "duration_days": duration_days,
            "party": party,
            "description": description or {},
            "source": source,
            "review_status": review_status,
        },
    )
    return item

"""The JSON API's sites, inventory and vendors: the same services, filters, checks and
versions as the HTML pages (``admin/sites.py``, ``inventory.py``, ``vendors.py``), and their
query-string parser for the list (``inventory.parse_query``), whose errors are a 422 here."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cmp_server.errors import InvalidRequest
from cmp_server.models import InventoryItem, Site, Vendor
from cmp_server.services import inventory, items, revisions, sites, vendors
from cmp_server.services.items import MAX_BULK, ItemChange
from cmp_server.services.staff import Actor
from cmp_server.services.vendors import VendorChange

from ..inventory import MAX_ID, BulkForm, parse_id, parse_query
from ._base import body, endpoint, json, plain, query_int

__all__ = ["routes"]


def site_json(site: Site) -> dict[str, Any]:
    return {"key": site.key, "name": site.name, "domains": site.domains,
            "languages": site.languages, "default_language": site.default_language,
            "consent_lifetime_days": site.consent_lifetime_days,
            "receipt_retention_days": site.receipt_retention_days,
            "cookie_domain": site.cookie_domain, "policy_url": site.policy_url,
            "created_at": site.created_at, "updated_at": site.updated_at}


@endpoint("viewer", site=False)
async def site_list(request: Request, actor: Actor) -> Response:
    return json({"sites": [site_json(s) for s in await sites.list_sites(actor.sites)]})


@endpoint("viewer")
async def site_get(request: Request, actor: Actor, site: Site) -> Response:
    return json(site_json(site))


# -- the inventory --------------------------------------------------------------------------


def _one_per_name(request: Request) -> dict[str, str]:
    """The query string as the HTML list reads it; a name given twice is refused."""
    params = request.query_params
    twice = [k for k in params if len(params.getlist(k)) > 1]
    if twice:
        raise InvalidRequest(f"give {twice[0]} once", field=twice[0])
    return dict(params)


@endpoint("viewer")
async def item_list(request: Request, actor: Actor, site: Site) -> Response:
    known = await inventory.choices(site)
    query, errors = parse_query(_one_per_name(request), known)
    if errors:
        name, message = next(iter(errors.items()))
        raise InvalidRequest(message, field=name)
    counts = await inventory.counts(site)
    page = await inventory.list_items(site, query, total=counts.total)
    stamps = await revisions.stamps(revisions.item(site, row.id) for row in page.items)
    return json({
        "items": page.items, "total": page.total, "page": page.query.page,
        "per_page": page.query.per_page, "pages": page.pages, "counts": counts,
        "versions": {row.id: stamps[revisions.item(site, row.id).key] for row in page.items},
    })


def _item_json(item: InventoryItem, version: int, flag: str | None) -> dict[str, Any]:
    return {
        "id": item.id, "name": item.name, "match": item.match, "kind": item.kind,
        "domain": item.domain, "party": item.party,
        "purpose": item.purpose.key if item.purpose else None,
        "vendor": item.vendor.key if item.vendor else None,
        "duration_days": item.duration_days, "description": item.description,
        "review_status": item.review_status, "source": item.source, "flag": flag,
        "first_seen": item.first_seen, "last_seen": item.last_seen,
        "missing_since": item.missing_since, "version": version,
    }


async def _item(site: Site, item_id: int) -> dict[str, Any]:
    version = await revisions.stamp(revisions.item(site, item_id))  # before: at most as new
    detail = await items.get_item(site, item_id, history=False)
    return _item_json(detail.item, version, detail.flag)


class ItemEdit(ItemChange):
    """An item as ``ItemChange`` checks it, and the version it was read at (``GET``'s)."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True, extra="forbid")

    version: int = Field(ge=0, le=10**18)


@endpoint("viewer")
async def item_get(request: Request, actor: Actor, site: Site) -> Response:
    return json(await _item(site, parse_id(request.path_params["item_id"], "inventory item")))


@endpoint("privacy")
async def item_put(request: Request, actor: Actor, site: Site) -> Response:
    item_id = parse_id(request.path_params["item_id"], "inventory item")
    known = {"choices": await inventory.choices(site)}
    edit = await body(request, ItemEdit, context=known)
    change = ItemChange.model_validate(edit.model_dump(exclude={"version"}), context=known)
    await items.update_item(site, item_id, change, by=actor, version=edit.version)
    return json(await _item(site, item_id))


Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class BulkBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    items: list[Id] = Field(min_length=1, max_length=MAX_BULK)
    action: str = Field(max_length=32)
    purpose: str = Field(default="", max_length=40)
    vendor: str = Field(default="", max_length=64)
    versions: dict[Id, Annotated[int, Field(ge=0, le=10**18)]] = Field(
        default_factory=dict, max_length=MAX_BULK)


@endpoint("privacy")
async def item_bulk(request: Request, actor: Actor, site: Site) -> Response:
    known = await inventory.choices(site)
    sent = await body(request, BulkBody)
    new = BulkForm.model_validate(
        {"item": [str(i) for i in sent.items], "action": sent.action,
         "to_purpose": sent.purpose, "to_vendor": sent.vendor}, context={"choices": known})
    changed = await items.bulk_update(
        site, new.item, new.action,  # type: ignore[arg-type]
        purpose=new.to_purpose or None,
        vendor=None if new.to_vendor in ("", "none") else new.to_vendor,
        by=actor, versions=sent.versions,
    )
    return json({"changed": changed})


# -- vendors -------------------------------------------------------------------------------


def _vendor_json(vendor: Vendor, version: int) -> dict[str, Any]:
    return {"id": vendor.id, "key": vendor.key, "name": vendor.name, "country": vendor.country,
            "privacy_policy_url": vendor.privacy_policy_url,
            "transfers_outside_eea": vendor.transfers_outside_eea,
            "transfer_basis": vendor.transfer_basis, "description": vendor.description,
            "version": version}


async def _vendor(site: Site, vendor_id: int) -> dict[str, Any]:
    version = await revisions.stamp(revisions.vendor(site, vendor_id))
    return _vendor_json(await vendors.get_vendor(site, vendor_id), version)


@endpoint("viewer")
async def vendor_list(request: Request, actor: Actor, site: Site) -> Response:
    page = await vendors.list_vendors(
        site, search=request.query_params.get("q", ""),
        page=query_int(request, "page", 1_000_000) or 1)
    return json(plain(page, "pages"))


@endpoint("viewer")
async def vendor_get(request: Request, actor: Actor, site: Site) -> Response:
    return json(await _vendor(site, parse_id(request.path_params["vendor_id"], "vendor")))


class VendorEdit(VendorChange):
    version: int = Field(ge=0, le=10**18)


@endpoint("privacy")
async def vendor_put(request: Request, actor: Actor, site: Site) -> Response:
    vendor_id = parse_id(request.path_params["vendor_id"], "vendor")
    edit = await body(request, VendorEdit, extra={"key": None})  # a vendor's key stays
    change = VendorChange.model_validate(edit.model_dump(exclude={"version"}))
    await vendors.update_vendor(site, vendor_id, change, by=actor, version=edit.version)
    return json(await _vendor(site, vendor_id))


routes = [
    Route("/sites", site_list, methods=["GET"]),
    Route("/sites/{key}", site_get, methods=["GET"]),
    Route("/sites/{key}/inventory", item_list, methods=["GET"]),
    Route("/sites/{key}/inventory/bulk", item_bulk, methods=["POST"]),
    Route("/sites/{key}/inventory/{item_id}", item_get, methods=["GET"]),
    Route("/sites/{key}/inventory/{item_id}", item_put, methods=["PUT"]),
    Route("/sites/{key}/vendors", vendor_list, methods=["GET"]),
    Route("/sites/{key}/vendors/{vendor_id}", vendor_get, methods=["GET"]),
    Route("/sites/{key}/vendors/{vendor_id}", vendor_put, methods=["PUT"]),
]

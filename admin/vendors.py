"""A site's vendors: the list (with how many items each has), adding one, and editing one
(name, country, privacy policy, transfer outside the EU/EEA: yes, no or not known, and its
basis). Everyone signed in reads; the privacy role changes."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.errors import CmpError, Conflict, InvalidRequest
from cmp_server.models import Site, Vendor
from cmp_server.services import sites, vendors
from cmp_server.services.vendors import VendorChange

from ._forms import field_errors, text_of
from ._pages import render, render_error, status_for
from ._security import requires
from .inventory import changes, parse_id

__all__ = ["routes"]

TRANSFERS = {"yes": True, "no": False, "unknown": None}


def _languages(site: Site, description: dict[str, str] | None = None) -> list[str]:
    langs = list(site.languages or [site.default_language])
    return langs + [lang for lang in (description or {}) if lang not in langs]


def _values(form: FormData, site: Site) -> dict[str, Any]:
    sent = {k.removeprefix("description_"): "" for k in form if k.startswith("description_")}
    return {
        "name": text_of(form, "name"),
        "key": text_of(form, "key"),
        "country": text_of(form, "country"),
        "privacy_policy_url": text_of(form, "privacy_policy_url"),
        "transfers": text_of(form, "transfers"),
        "transfer_basis": text_of(form, "transfer_basis"),
        "description": {
            lang: text_of(form, f"description_{lang}") for lang in _languages(site, sent)
        },
    }


def _parse(values: dict[str, Any]) -> VendorChange:
    transfers = values["transfers"]
    data = {k: v for k, v in values.items() if k != "transfers"}
    # Anything but the three answers goes to the model as is, which refuses it by name.
    data["transfers_outside_eea"] = TRANSFERS[transfers] if transfers in TRANSFERS else transfers
    return VendorChange.model_validate(data)


def _current(vendor: Vendor) -> dict[str, Any]:
    transfers = {True: "yes", False: "no", None: "unknown"}[vendor.transfers_outside_eea]
    return {
        "name": vendor.name, "key": vendor.key, "country": vendor.country or "",
        "privacy_policy_url": vendor.privacy_policy_url or "", "transfers": transfers,
        "transfer_basis": vendor.transfer_basis or "",
        "description": dict(vendor.description or {}),
    }


def _errors(exc: ValidationError) -> dict[str, str]:
    errors = field_errors(exc)
    if "transfers_outside_eea" in errors:
        errors["transfers"] = "choose yes, no or not known"
    return errors


async def _save(
    request: Request, site: Site, vendor_id: int | None
) -> tuple[int | None, dict[str, Any], dict[str, str], int]:
    form = await request.form()
    values = _values(form, site)
    if vendor_id is not None:
        values["key"] = ""  # a vendor's key never changes
    try:
        change = _parse(values)
    except ValidationError as exc:
        return None, values, _errors(exc), 422
    try:
        if vendor_id is None:
            saved = await vendors.create_vendor(site, change, by=request.state.actor)
        else:
            saved = await vendors.update_vendor(site, vendor_id, change, by=request.state.actor)
    except (Conflict, InvalidRequest) as exc:
        field = "key" if isinstance(exc, Conflict) else "form"
        return None, values, {field: exc.detail}, status_for(exc)
    return saved.id, values, {}, 200


@requires("viewer")
async def vendor_list(request: Request) -> Response:
    site = await sites.get_site(request.path_params["key"])
    params = request.query_params
    search, errors = params.get("q", ""), {}
    page_text = params.get("page", "1")
    page_no = int(page_text) if page_text.isascii() and page_text.isdigit() and len(
        page_text) <= 7 and page_text != "0" else 1
    try:
        page = await vendors.list_vendors(site, search=search, page=page_no)
    except CmpError as exc:
        errors = {"q": exc.detail}
        search = ""
        page = await vendors.list_vendors(site)
    return render(request, "admin/vendors.html", {
        "site": site, "tab": "vendors", "page": page, "search": search, "errors": errors,
    }, 422 if errors else 200)


@requires("viewer")
async def vendor_page(request: Request) -> Response:
    site = await sites.get_site(request.path_params["key"])
    vendor_id = parse_id(request.path_params["vendor_id"], "vendor")
    errors: dict[str, str] = {}
    values: dict[str, Any] | None = None
    status = 200
    if request.method == "POST":
        if not request.state.actor.can("privacy"):
            return await render_error(request, 403, "Changing vendors needs the privacy role; "
                                      f"you are signed in as {request.state.actor.role}.")
        saved, values, errors, status = await _save(request, site, vendor_id)
        if saved is not None:
            here = request.url_for("admin:vendor", key=site.key, vendor_id=str(saved)).path
            return RedirectResponse(f"{here}?saved=1", 303)
    vendor = await vendors.get_vendor(site, vendor_id)
    current = _current(vendor)
    shown = {**(values or current), "key": vendor.key}
    history = await vendors.history(site, vendor_id)
    return render(request, "admin/vendor.html", {
        "site": site, "tab": "vendors", "vendor": vendor, "values": shown, "errors": errors,
        "languages": _languages(site, shown["description"]),
        "saved": "saved" in request.query_params,
        "items": await vendors.item_count(site, vendor_id),
        "history": [(e.at, e.actor, e.action, changes(e.before, e.after)) for e in history],
    }, status)


@requires("privacy")
async def vendor_new(request: Request) -> Response:
    site = await sites.get_site(request.path_params["key"])
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"transfers": "unknown", "description": {}}
    status = 200
    if request.method == "POST":
        saved, values, errors, status = await _save(request, site, None)
        if saved is not None:
            here = request.url_for("admin:vendor", key=site.key, vendor_id=str(saved)).path
            return RedirectResponse(f"{here}?saved=1", 303)
    return render(request, "admin/vendor_new.html", {
        "site": site, "tab": "vendors", "values": values, "errors": errors,
        "languages": _languages(site, values.get("description")),
    }, status)


routes = [
    Route("/sites/{key}/vendors", vendor_list, methods=["GET"], name="vendors"),
    Route("/sites/{key}/vendors/new", vendor_new, methods=["GET", "POST"], name="vendor_new"),
    Route("/sites/{key}/vendors/{vendor_id}", vendor_page, methods=["GET", "POST"],
          name="vendor"),
]

"""A site's vendors: the list (with how many items each has), adding one, and editing one
(name, country, privacy policy, transfer outside the EU/EEA: yes, no or not known, and its
basis). Everyone signed in reads; the privacy role changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.errors import CmpError
from cmp_server.models import Site, Vendor
from cmp_server.services import revisions, vendors
from cmp_server.services.vendors import VendorChange

from ._conflicts import meanwhile, version_of, without_form_error
from ._conflicts import read_at as _read_at
from ._forms import UNREFUSED, Refusal, save_form, text_of, whole_number
from ._pages import render
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


def _change(values: dict[str, Any]) -> dict[str, Any]:
    """The form's values as ``VendorChange`` takes them: anything but the three answers goes
    to the model as is, which refuses it by name."""
    data = {k: v for k, v in values.items() if k != "transfers"}
    transfers = values["transfers"]
    data["transfers_outside_eea"] = TRANSFERS[transfers] if transfers in TRANSFERS else transfers
    return data


# The vendor form's fields as a conflict compares them (audit names where they differ).
LABELS = {"name": "Name", "country": "Country", "privacy_policy_url": "Privacy policy",
          "transfers_outside_eea": "Transfers outside the EU/EEA",
          "transfer_basis": "Transfer basis"}


def _compared(values: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in values.items() if k not in ("description", "transfers", "key")}
    flat["transfers_outside_eea"] = {"yes": "yes", "no": "no", "unknown": "not known"}.get(
        values.get("transfers", ""), values.get("transfers"))
    flat.update({f"description.{k}": v for k, v in (values.get("description") or {}).items()})
    return flat


def _current(vendor: Vendor) -> dict[str, Any]:
    transfers = {True: "yes", False: "no", None: "unknown"}[vendor.transfers_outside_eea]
    return {
        "name": vendor.name, "key": vendor.key, "country": vendor.country or "",
        "privacy_policy_url": vendor.privacy_policy_url or "", "transfers": transfers,
        "transfer_basis": vendor.transfer_basis or "",
        "description": dict(vendor.description or {}),
    }


async def _save(
    request: Request, site: Site, vendor_id: int | None,
    again: Callable[[dict[str, Any], Refusal, int | None], Awaitable[Response]],
) -> Response:
    form = await request.form()
    values = _values(form, site)
    if vendor_id is not None:
        values["key"] = ""  # a vendor's key never changes
    read_at = _read_at(form)

    async def save(change: VendorChange) -> Vendor:
        if vendor_id is None:
            return await vendors.create_vendor(site, change, by=request.state.actor)
        return await vendors.update_vendor(site, vendor_id, change, by=request.state.actor,
                                           version=version_of(form))

    def done(saved: Vendor) -> Response:
        here = request.url_for("admin:vendor", key=site.key, vendor_id=str(saved.id)).path
        return RedirectResponse(f"{here}?saved=1", 303)

    return await save_form(
        VendorChange, _change(values), save, done=done,
        again=lambda refused: again(values, refused, read_at),
        names={"transfers_outside_eea": "transfers"},
        messages={"transfers_outside_eea": "choose yes, no or not known"},
    )


@requires("viewer", site=True)
async def vendor_list(request: Request, site: Site) -> Response:
    params = request.query_params
    search, errors = params.get("q", ""), {}
    page_no = whole_number(params.get("page"), 7) or 1
    try:
        page = await vendors.list_vendors(site, search=search, page=page_no)
    except CmpError as exc:
        errors = {"q": exc.detail}
        search = ""
        page = await vendors.list_vendors(site)
    return render(request, "admin/vendors.html", {
        "site": site, "tab": "vendors", "page": page, "search": search, "errors": errors,
        "link": lambda page: urlencode({"q": search, "page": page}),
    }, 422 if errors else 200)


@requires("viewer", site=True, post="privacy")
async def vendor_page(request: Request, site: Site) -> Response:
    vendor_id = parse_id(request.path_params["vendor_id"], "vendor")

    async def page(values: dict[str, Any] | None, refused: Refusal = UNREFUSED,
                   read_at: int | None = None) -> Response:
        subject = revisions.vendor(site, vendor_id)
        version = await revisions.stamp(subject)  # before the values: at most as new
        vendor = await vendors.get_vendor(site, vendor_id)
        shown = {**(values or _current(vendor)), "key": vendor.key}
        history = await vendors.history(site, vendor_id)
        languages = _languages(site, shown["description"])

        async def stored() -> dict[str, Any]:
            return _compared(_current(await vendors.get_vendor(site, vendor_id)))

        conflict = await meanwhile(
            refused, subject, read_at, stored=stored, typed=_compared(values or {}),
            labels={**LABELS, **{f"description.{lang}": f"Description ({lang})"
                                 for lang in languages}},
            discard=request.url_for("admin:vendor", key=site.key,
                                    vendor_id=str(vendor_id)).path,
            form_id="form-vendor")
        return render(request, "admin/vendor.html", {
            "site": site, "tab": "vendors", "vendor": vendor, "values": shown,
            "version": conflict.version if conflict else version, "conflict": conflict,
            "errors": without_form_error(refused),
            "languages": languages,
            "saved": "saved" in request.query_params,
            "items": await vendors.item_count(site, vendor_id),
            "history": [(e.at, e.actor, e.action, changes(e.before, e.after)) for e in history],
        }, refused.status)

    if request.method == "POST":
        return await _save(request, site, vendor_id, page)
    return await page(None)


@requires("privacy", site=True)
async def vendor_new(request: Request, site: Site) -> Response:
    async def page(values: dict[str, Any], refused: Refusal = UNREFUSED,
                   read_at: int | None = None) -> Response:
        return render(request, "admin/vendor_new.html", {
            "site": site, "tab": "vendors", "values": values,
            "errors": refused.errors,
            "languages": _languages(site, values.get("description")),
        }, refused.status)

    if request.method == "POST":
        return await _save(request, site, None, page)
    return await page({"transfers": "unknown", "description": {}})


routes = [
    Route("/sites/{key}/vendors", vendor_list, methods=["GET"], name="vendors"),
    Route("/sites/{key}/vendors/new", vendor_new, methods=["GET", "POST"], name="vendor_new"),
    Route("/sites/{key}/vendors/{vendor_id}", vendor_page, methods=["GET", "POST"],
          name="vendor"),
]

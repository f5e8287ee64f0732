"""The cookie inventory of a site: the list (filtered, sorted and paged by the database, from
the query string), bulk actions on the rows ticked, one item's page, and adding one by hand.

Everyone signed in reads; the privacy role changes. The list's filters survive a bulk action:
the form carries them (``back``, rebuilt from the parsed query, never echoed) and the answer
redirects to the same list. What the statuses and flags mean: ``cmp_server.services.inventory``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pydantic import ValidationError, ValidationInfo, field_validator
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.errors import CmpError, InvalidRequest, NotFound, StaleEdit
from cmp_server.models import InventoryItem, Site
from cmp_server.services import audit_view, inventory, items, revisions, translations
from cmp_server.services.inventory import (
    ITEM_KINDS,
    PER_PAGE,
    REVIEW_STATUSES,
    SORTS,
    Choices,
    ItemQuery,
)
from cmp_server.services.items import BULK_ACTIONS, MAX_BULK, ItemChange

from ._conflicts import meanwhile, version_of, without_form_error
from ._conflicts import read_at as _read_at
from ._forms import (
    UNREFUSED,
    Form,
    Refusal,
    field_errors,
    refusal,
    save_form,
    text_of,
    whole_number,
)
from ._pages import render
from ._security import requires

__all__ = ["changes", "parse_id", "parse_query", "query_string", "routes"]

# The query string's names for ItemQuery's fields.
PARAMS = {"status": "status", "seen": "seen", "flag": "flag", "purpose": "purpose",
          "vendor": "vendor", "kind": "kind", "q": "search", "sort": "sort", "page": "page",
          "per_page": "per_page"}
CHOICES: dict[str, tuple[str, ...]] = {
    "status": REVIEW_STATUSES, "seen": ("new", "missing"), "flag": ("violation", "review"),
    "kind": ITEM_KINDS,
}
DEFAULT = ItemQuery()
MAX_ID = 2**31 - 1  # the ids' columns are 32-bit integers
DONE = {
    "set_purpose": "purpose set, and marked reviewed", "set_vendor": "vendor set",
    "mark_reviewed": "marked reviewed", "mark_gone": "marked gone",
}


def parse_id(value: str, what: str) -> int:
    """An id from the path, or NotFound (``/inventory/x`` is a 404, never a 500; nor is an
    id past the column's 32 bits, which PostgreSQL's driver refuses to send)."""
    found = whole_number(value, 12)
    if found is None or found > MAX_ID:
        raise NotFound(f"no {what} {value[:40]!r} on this site")
    return found


def parse_query(params: Mapping[str, str], known: Choices) -> tuple[ItemQuery, dict[str, str]]:
    """The list's query from a query string: a value it cannot use is left out and named in
    the errors (by parameter), so the page still answers."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, allowed in CHOICES.items():
        value = params.get(name, "")
        if value in allowed:
            values[name] = value
        elif value:
            errors[name] = f"choose one of: {', '.join(allowed)}"
    for name, keys in (("purpose", known.purpose_keys), ("vendor", known.vendor_keys)):
        value = params.get(name, "")
        if value == "none" or value in keys:
            values[name] = value
        elif value:
            errors[name] = f"this site has no {name} with that key"
    try:
        values["search"] = ItemQuery(search=params.get("q", "").strip()).search
    except InvalidRequest as exc:
        errors["q"] = exc.detail
    sort = params.get("sort", "")
    if sort.removeprefix("-") in SORTS:
        values["sort"] = sort
    elif sort:
        errors["sort"] = "not a column the list sorts by"
    page, per_page = whole_number(params.get("page"), 7), whole_number(params.get("per_page"), 7)
    if page is not None and page >= 1:
        values["page"] = page
    elif params.get("page"):
        errors["page"] = "a page is a number from 1"
    if per_page in PER_PAGE:
        values["per_page"] = per_page
    elif params.get("per_page"):
        errors["per_page"] = f"rows per page: {', '.join(map(str, PER_PAGE))}"
    return ItemQuery(**values), errors


def query_string(query: ItemQuery, **changes: Any) -> str:
    """The query string of ``query`` with ``changes``, defaults left out."""
    query = replace(query, **changes)
    pairs = [
        (name, str(getattr(query, field)))
        for name, field in PARAMS.items()
        if getattr(query, field) not in (None, getattr(DEFAULT, field))
    ]
    return urlencode(pairs)


def _sort_link(query: ItemQuery, column: str) -> tuple[str, str | None]:
    """The query string a column heading links to, and how the list is sorted by it now."""
    if query.sort == column:
        return query_string(query, sort=f"-{column}", page=1), "ascending"
    if query.sort == f"-{column}":
        return query_string(query, sort=column, page=1), "descending"
    return query_string(query, sort=column, page=1), None


async def _list_page(
    request: Request, site: Site, query: ItemQuery, known: Choices, *,
    errors: Mapping[str, str] | None = None, bulk: Mapping[str, Any] | None = None,
    status: int = 200, stale: list[dict[str, Any]] | None = None,
) -> Response:
    counts = await inventory.counts(site)
    page = await inventory.list_items(site, query, total=counts.total)
    # Each row's version, for the bulk action (read after the rows: a change committed
    # between the two reads is carried as seen; see the report).
    stamps = await revisions.stamps(revisions.item(site, row.id) for row in page.items)
    params = request.query_params
    done = whole_number(params.get("done"), 7)
    did = params.get("did", "")
    return render(request, "admin/inventory.html", {
        "site": site, "tab": "inventory", "page": page, "query": page.query,
        "counts": counts, "known": known,
        "purpose_names": {k: _label(n, site, k) for k, n, _ in known.purposes},
        "errors": errors or {}, "bulk": bulk or {},
        "done": f"{done} item{'' if done == 1 else 's'}: {DONE[did]}."
        if done is not None and did in DONE else "",
        "raw": {name: params.get(name, "") for name in PARAMS},
        "link": lambda **changes: query_string(page.query, **changes),
        "sort_link": lambda column: _sort_link(page.query, column),
        "back": query_string(page.query),
        "kind_options": [(k, k) for k in ITEM_KINDS], "per_page_choices": PER_PAGE,
        "actions": BULK_ACTIONS,
        "versions": {row.id: stamps[revisions.item(site, row.id).key] for row in page.items},
        "stale": stale or [],
    }, status)


def _label(names: Mapping[str, str], site: Site, key: str) -> str:
    return names.get(site.default_language) or names.get("en") or key


@requires("viewer", site=True)
async def inventory_list(request: Request, site: Site) -> Response:
    known = await inventory.choices(site)
    query, errors = parse_query(request.query_params, known)
    return await _list_page(request, site, query, known, errors=errors,
                            status=422 if errors else 200)


class BulkForm(Form):
    """An action on the rows ticked (``item``), validated with ``context={"choices": Choices}``:
    the purpose or vendor it sets must be the site's."""

    item: tuple[int, ...]
    action: str
    to_purpose: str = ""
    to_vendor: str = ""

    @field_validator("item", mode="before")
    @classmethod
    def _ids(cls, values: list[str]) -> list[int]:
        ids = [whole_number(v, 12) for v in values]
        if None in ids:
            raise ValueError("the selection holds something that is not an item")
        if not ids:
            raise ValueError("tick one or more rows first")
        if len(ids) > MAX_BULK:
            raise ValueError(f"one action changes at most {MAX_BULK} items")
        return [i for i in ids if i is not None]

    @field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        if value not in BULK_ACTIONS:
            raise ValueError("choose what to do with the rows ticked")
        return value

    @field_validator("to_purpose", "to_vendor")
    @classmethod
    def _target(cls, value: str, info: ValidationInfo) -> str:
        known: Choices = (info.context or {})["choices"]
        action, allowed, message = {
            "to_purpose": ("set_purpose", known.purpose_keys, "choose the purpose to set"),
            "to_vendor": ("set_vendor", {*known.vendor_keys, "none"},
                          "choose the vendor to set (or no vendor)"),
        }[str(info.field_name)]
        if info.data.get("action") == action and value not in allowed:
            raise ValueError(message)
        return value


# The bulk bar's fields, and the service's names for them; its other errors show at the action.
_BULK = {"item": "bulk_item", "ids": "bulk_item", "action": "bulk_action",
         "to_purpose": "bulk_to_purpose", "purpose": "bulk_to_purpose",
         "to_vendor": "bulk_to_vendor", "vendor": "bulk_to_vendor", "form": "bulk_action"}


def _versions(form: FormData, ids: list[str]) -> dict[int, int]:
    """Each ticked row's version as the list showed it (``version-<id>``); a row without
    one is not compared (a form from before versions), a garbled one refuses the action."""
    versions = {}
    for sent in ids:
        item_id, given = whole_number(sent, 12), form.get(f"version-{sent}")
        version = whole_number(given, 18)
        if given is not None and version is None:
            raise InvalidRequest("The form came with a version that is not one this page "
                                 "wrote: reload the page and try again.")
        if item_id is not None and version is not None:
            versions[item_id] = version
    return versions


async def _stale(site: Site, keys: tuple[str, ...], versions: Mapping[int, int],
                 ) -> list[dict[str, Any]]:
    """The rows a bulk action was refused for: each one's changes since the list showed it."""
    ids = sorted(int(k.removeprefix("item:")) for k in keys if k.startswith("item:"))
    names = dict(await InventoryItem.filter(site_id=site.id, id__in=ids)
                 .values_list("id", "name"))
    rows = []
    for item_id in ids:
        entries = await revisions.since(revisions.item(site, item_id), versions.get(item_id, 0))
        rows.append({"id": item_id, "name": names.get(item_id, str(item_id)), "changes": [
            (e.at, e.actor, e.action, audit_view.changes(e.before, e.after)) for e in entries]})
    return rows


@requires("privacy", site=True)
async def inventory_bulk(request: Request, site: Site) -> Response:
    known = await inventory.choices(site)
    form = await request.form()
    query, _ = parse_query(dict(parse_qsl(text_of(form, "back")[:4000])), known)
    sent = [v if isinstance(v, str) else "" for v in form.getlist("item")]
    # "Apply to the others only", after a refusal: the rows changed meanwhile left out.
    skip = set(text_of(form, "skip").split(","))
    sent = [v for v in sent if v not in skip]
    bulk = {"action": text_of(form, "action"), "to_purpose": text_of(form, "to_purpose"),
            "to_vendor": text_of(form, "to_vendor"), "items": set(sent)}
    versions: dict[int, int] = {}
    stale: list[dict[str, Any]] = []
    try:
        versions = _versions(form, sent)
        new = BulkForm.model_validate({**bulk, "item": sent}, context={"choices": known})
        changed = await items.bulk_update(
            site, new.item, new.action,  # type: ignore[arg-type]
            purpose=new.to_purpose or None,
            vendor=None if new.to_vendor in ("", "none") else new.to_vendor,
            by=request.state.actor, versions=versions,
        )
    except ValidationError as exc:
        errors = field_errors(exc, names=_BULK)
    except StaleEdit as exc:  # nothing changed: which rows moved on, and how
        errors, stale = {}, await _stale(site, exc.keys, versions)
    except CmpError as exc:  # a selection gone meanwhile is the form's error too, not a 404
        errors = refusal(exc, BulkForm, _BULK).errors
    else:
        back = query_string(query)
        target = request.url_for("admin:inventory", key=site.key).path
        done = urlencode({"done": changed, "did": new.action})
        return RedirectResponse(f"{target}?{back}&{done}" if back else f"{target}?{done}", 303)
    return await _list_page(request, site, query, known, bulk=bulk, errors=errors,
                            status=409 if stale else 422, stale=stale)


# -- one item -------------------------------------------------------------------------------


def _languages(site: Site, description: Mapping[str, str] | None = None) -> list[str]:
    """The site's languages, then any other a description already has (never lost)."""
    langs = list(site.languages or [site.default_language])
    return langs + [lang for lang in (description or {}) if lang not in langs]


def _item_values(form: FormData, languages: list[str]) -> dict[str, Any]:
    return {
        "name": text_of(form, "name"),
        "match": text_of(form, "match") or "exact",
        "kind": text_of(form, "kind") or "cookie",
        "domain": text_of(form, "domain"),
        "party": text_of(form, "party") or "first",
        "purpose": text_of(form, "purpose"),
        "vendor": text_of(form, "vendor"),
        "duration_days": text_of(form, "duration_days").strip() or None,
        "description": {lang: text_of(form, f"description_{lang}") for lang in languages},
        "review_status": text_of(form, "review_status") or "reviewed",
    }


def _current(item: Any) -> dict[str, Any]:
    return {
        "name": item.name, "match": item.match, "kind": item.kind, "domain": item.domain or "",
        "party": item.party, "purpose": item.purpose.key if item.purpose else "",
        "vendor": item.vendor.key if item.vendor else "",
        "duration_days": "" if item.duration_days is None else item.duration_days,
        "description": dict(item.description or {}), "review_status": item.review_status,
    }


async def _save_item(
    request: Request, site: Site, known: Choices, item_id: int | None,
    again: Callable[[dict[str, Any], Refusal, int | None], Awaitable[Response]],
) -> Response:
    """Parse and save the item form: to the item's page when saved, else ``again``."""
    form = await request.form()
    sent = {k.removeprefix("description_"): "" for k in form if k.startswith("description_")}
    values = _item_values(form, _languages(site, sent))

    async def save(change: ItemChange) -> InventoryItem:
        if item_id is None:
            return await items.create_item(site, change, by=request.state.actor)
        return await items.update_item(site, item_id, change, by=request.state.actor,
                                       version=version_of(form))

    def done(saved: InventoryItem) -> Response:
        here = request.url_for("admin:item", key=site.key, item_id=str(saved.id)).path
        return RedirectResponse(f"{here}?saved=1", 303)

    read_at = _read_at(form)
    return await save_form(ItemChange, values, save, done=done,
                           again=lambda refused: again(values, refused, read_at),
                           context={"choices": known})


# The item form's fields as a conflict compares them (``_compared``).
ITEM_LABELS = {"name": "Name", "match": "Match", "kind": "Kind", "domain": "Domain",
               "party": "Party", "purpose": "Purpose", "vendor": "Vendor",
               "duration_days": "Duration (days)", "review_status": "Review"}


def _compared(values: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values flat, a description per language (``description.sv``)."""
    flat = {k: v for k, v in values.items() if k != "description"}
    flat.update({f"description.{k}": v for k, v in (values.get("description") or {}).items()})
    return flat


def _item_context(site: Site, known: Choices, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "site": site, "tab": "inventory", "known": known, "values": values,
        "languages": _languages(site, values.get("description")),
        "kinds": ITEM_KINDS, "statuses": REVIEW_STATUSES,
        "purpose_names": {k: _label(n, site, k) for k, n, _ in known.purposes},
    }


@requires("viewer", site=True, post="privacy")
async def item_page(request: Request, site: Site) -> Response:
    item_id = parse_id(request.path_params["item_id"], "inventory item")
    known = await inventory.choices(site)

    async def page(values: dict[str, Any] | None, refused: Refusal = UNREFUSED,
                   read_at: int | None = None) -> Response:
        subject = revisions.item(site, item_id)
        version = await revisions.stamp(subject)  # before the values: at most as new
        detail = await items.get_item(site, item_id)
        context = _item_context(site, known, values or _current(detail.item))
        here = request.url_for("admin:item", key=site.key, item_id=str(item_id)).path

        async def stored() -> dict[str, Any]:
            return _compared(_current((await items.get_item(site, item_id)).item))

        labels = {**ITEM_LABELS, **{f"description.{lang}": f"Description ({lang})"
                                    for lang in context["languages"]}}
        conflict = await meanwhile(refused, subject, read_at, stored=stored,
                                   typed=_compared(values or {}), labels=labels,
                                   discard=here, form_id="form-item")
        return render(request, "admin/item.html", {
            **context, "detail": detail, "item": detail.item,
            "declared": translations.declared_texts(
                detail.item, site.languages or [site.default_language]),
            "version": conflict.version if conflict else version, "conflict": conflict,
            "errors": without_form_error(refused),
            "saved": "saved" in request.query_params, "history": [
                (e.at, e.actor, e.action, changes(e.before, e.after)) for e in detail.history
            ],
        }, refused.status)

    if request.method == "POST":
        return await _save_item(request, site, known, item_id, page)
    return await page(None)


def changes(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[tuple[str, str, str]]:
    """An audit entry as ``(field, before, after)`` for what it changed, as text."""

    def text(value: Any) -> str:
        if value is None or value == {}:
            return "—"
        if isinstance(value, dict):
            return "; ".join(f"{k}: {v}" for k, v in value.items())
        return str(value)

    return [
        (name, text((before or {}).get(name)) if before else "", text(value))
        for name, value in (after or {}).items()
        if not before or before.get(name) != value
    ]


@requires("privacy", site=True)
async def item_new(request: Request, site: Site) -> Response:
    known = await inventory.choices(site)

    async def page(values: dict[str, Any], refused: Refusal = UNREFUSED,
                   read_at: int | None = None) -> Response:
        return render(request, "admin/item_new.html", {
            **_item_context(site, known, values), "errors": refused.errors,
        }, refused.status)

    if request.method == "POST":
        return await _save_item(request, site, known, None, page)
    return await page({"match": "exact", "kind": "cookie", "party": "first",
                       "review_status": "reviewed", "description": {}})


routes = [
    Route("/sites/{key}/inventory", inventory_list, methods=["GET"], name="inventory"),
    Route("/sites/{key}/inventory/bulk", inventory_bulk, methods=["POST"],
          name="inventory_bulk"),
    Route("/sites/{key}/inventory/new", item_new, methods=["GET", "POST"], name="item_new"),
    Route("/sites/{key}/inventory/{item_id}", item_page, methods=["GET", "POST"], name="item"),
]

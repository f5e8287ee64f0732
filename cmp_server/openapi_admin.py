"""The OpenAPI description of the JSON admin API (``/admin/api/v1``, ``admin/api``), a part of
the one document ``openapi.py`` serves: tag ``admin``, bearer tokens (``bearerToken``). The
request bodies of an item and a vendor are the services' own models (``ItemChange``,
``VendorChange``) with the version they were read at; the choices in the query strings are
the services' own lists. Each operation says the token scope it needs
(``x-required-scope``)."""

from __future__ import annotations

from typing import Any

from .schemas import METHODS
from .services import scans
from .services.inventory import ITEM_KINDS, PER_PAGE, REVIEW_STATUSES, SORTS
from .services.items import BULK_ACTIONS, MAX_BULK, ItemChange
from .services.scan_findings import PAGED_LISTS
from .services.vendors import VendorChange

__all__ = ["admin_components", "admin_paths"]

BASE = "/admin/api/v1"
TAG = "admin"
_REF = "#/components/schemas/{model}"
_ERROR = {"$ref": "#/components/schemas/AdminError"}
_OBJECT: dict[str, Any] = {"type": "object"}
_VERSION = {"type": "integer", "minimum": 0, "maximum": 10**18,
            "description": "The version the thing was read at (its GET's `version`): an edit "
                           "over a newer one is refused with 409 stale_edit."}


def _path(name: str, description: str = "", pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": description}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


KEY = _path("key", "The site's key")
ID = {"type": "string", "pattern": "^[0-9]{1,12}$"}
DAY = {"type": "string", "format": "date"}


def _errors(*statuses: int) -> dict[str, Any]:
    said = {400: "Bad input", 401: "No token, or one unknown, revoked or expired",
            403: "The token's scope is too narrow", 404: "No such site (or one the token "
            "does not reach) or thing", 409: "Changed meanwhile, or nothing to do",
            415: "Not JSON", 422: "Bad input (`error.field` names it)",
            429: "Too many requests with this token (`Retry-After`)"}
    return {str(s): {"description": said[s], "content": {"application/json": {
        "schema": _ERROR}}} for s in sorted({401, 403, 429, *statuses})}


def _op(op_id: str, summary: str, scope: str, *, params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, ok: int = 200, errors: tuple[int, ...] = (),
        media: str = "application/json") -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": op_id, "summary": summary, "tags": [TAG],
        "security": [{"bearerToken": []}], "x-required-scope": scope,
        "description": f"Needs a {scope} token.",
        "parameters": params or [],
        "responses": {str(ok): {"description": "OK", "content": {media: {
            "schema": _OBJECT if media == "application/json" else {"type": "string"}}}},
            **_errors(*errors, *((415, 422) if body else ()))},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    return operation


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


def _with_version(model: str) -> dict[str, Any]:
    return {"allOf": [{"$ref": _REF.format(model=model)},
                      {"type": "object", "properties": {"version": _VERSION},
                       "required": ["version"]}]}


_FILTER: dict[str, dict[str, Any]] = {
    "consent_id": {"type": "string", "format": "uuid"},
    "receipt_id": {"type": "string", "maxLength": 40},
    "from": DAY, "to": DAY,
    "method": {"type": "string", "enum": list(METHODS)},
    "language": {"type": "string", "maxLength": 8},
    "purpose": {"type": "string", "maxLength": 40},
    "decision": {"type": "string", "enum": ["granted", "refused"]},
}


def admin_paths() -> dict[str, Any]:
    inventory_params = [
        KEY,
        _query("status", {"type": "string", "enum": list(REVIEW_STATUSES)}),
        _query("seen", {"type": "string", "enum": ["new", "missing"]}),
        _query("flag", {"type": "string", "enum": ["violation", "review"]}),
        _query("purpose", {"type": "string"}, "A purpose key, or `none`"),
        _query("vendor", {"type": "string"}, "A vendor key, or `none`"),
        _query("kind", {"type": "string", "enum": list(ITEM_KINDS)}),
        _query("q", {"type": "string", "maxLength": 255}, "Name contains"),
        _query("sort", {"type": "string", "enum": [*SORTS, *(f"-{s}" for s in SORTS)]}),
        _query("page", {"type": "integer", "minimum": 1}),
        _query("per_page", {"type": "integer", "enum": list(PER_PAGE)}),
    ]
    item = _path("item_id", "", "^[0-9]{1,12}$")
    vendor = _path("vendor_id", "", "^[0-9]{1,12}$")
    job = _path("job_id", "", "^[0-9]{1,12}$")
    bulk = _obj({
        "items": {"type": "array", "items": {"type": "integer"}, "minItems": 1,
                  "maxItems": MAX_BULK},
        "action": {"type": "string", "enum": list(BULK_ACTIONS)},
        "purpose": {"type": "string", "maxLength": 40},
        "vendor": {"type": "string", "maxLength": 64},
        "versions": {"type": "object", "additionalProperties": {"type": "integer"},
                     "description": "Each item's version as the list showed it"},
    }, ("items", "action"))
    start = _obj({
        "start_url": {"type": "string", "minLength": 1, "maxLength": 2000},
        "max_pages": {"type": "integer", "minimum": 1, "maximum": scans.MAX_PAGES},
        "passes": {"type": "array", "minItems": 1, "maxItems": 3,
                   "items": {"type": "string", "enum": ["none", "accept", "reject"]}},
    })
    export = _obj({**_FILTER, "format": {"type": "string", "enum": ["csv", "jsonl"]}})
    texts = _obj({"texts": {"type": "object", "additionalProperties": {"type": "string"}},
                  "version": _VERSION}, ("texts", "version"))
    publish = _obj({"fingerprint": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                                    "description": "The draft summary's fingerprint"}},
                   ("fingerprint",))
    p = {
        "/sites": {"get": _op("adminListSites", "The sites the token reaches", "read")},
        "/sites/{key}": {"get": _op("adminGetSite", "One site", "read", params=[KEY],
                                    errors=(404,))},
        "/sites/{key}/inventory": {"get": _op(
            "adminListInventory", "The inventory: the HTML list's filters, sort and pages",
            "read", params=inventory_params, errors=(404, 422))},
        "/sites/{key}/inventory/bulk": {"post": _op(
            "adminBulkInventory", "One action on many items", "write", params=[KEY],
            body=bulk, errors=(404, 409))},
        "/sites/{key}/inventory/{item_id}": {
            "get": _op("adminGetItem", "One item, with its version", "read",
                       params=[KEY, item], errors=(404,)),
            "put": _op("adminEditItem", "Edit one item over the version read", "write",
                       params=[KEY, item], body=_with_version("ItemChange"), errors=(404, 409)),
        },
        "/sites/{key}/vendors": {"get": _op(
            "adminListVendors", "The vendors, by name", "read", params=[
                KEY, _query("q", {"type": "string", "maxLength": 200}),
                _query("page", {"type": "integer", "minimum": 1})], errors=(404, 422))},
        "/sites/{key}/vendors/{vendor_id}": {
            "get": _op("adminGetVendor", "One vendor, with its version", "read",
                       params=[KEY, vendor], errors=(404,)),
            "put": _op("adminEditVendor", "Edit a vendor over the version read", "write",
                       params=[KEY, vendor], body=_with_version("VendorChange"),
                       errors=(404, 409)),
        },
        "/sites/{key}/draft": {"get": _op(
            "adminGetDraft", "The draft, its texts' versions and the publish summary "
            "(with the fingerprint to publish)", "read", params=[KEY], errors=(404,))},
        "/sites/{key}/draft/texts/{language}": {"put": _op(
            "adminEditTexts", "Set banner texts of one language", "write",
            params=[KEY, _path("language")], body=texts, errors=(404, 409))},
        "/sites/{key}/draft/lint": {"get": _op(
            "adminLint", "The checks publishing runs", "read", params=[KEY], errors=(404,))},
        "/sites/{key}/publish": {"post": _op(
            "adminPublish", "Publish the draft whose summary had this fingerprint", "write",
            params=[KEY], body=publish, ok=201, errors=(404, 409))},
        "/sites/{key}/versions": {"get": _op(
            "adminListVersions", "Published versions", "read", params=[KEY], errors=(404,))},
        "/sites/{key}/scans": {
            "get": _op("adminListScans", "The scans, newest first", "read", params=[
                KEY, _query("before", ID, "`older` of the page before")], errors=(404, 422)),
            "post": _op("adminStartScan", "Queue a scan", "write", params=[KEY], body=start,
                        ok=201, errors=(404,)),
        },
        "/sites/{key}/scans/jobs/{job_id}": {"get": _op(
            "adminScanStatus", "A scan's status and progress", "read", params=[KEY, job],
            errors=(404,))},
        "/sites/{key}/scans/jobs/{job_id}/cancel": {"post": _op(
            "adminCancelScan", "Cancel a queued or running scan", "write",
            params=[KEY, job], errors=(404, 409))},
        "/sites/{key}/scans/{scan_id}": {"get": _op(
            "adminScanReport", "A stored scan's findings and changes", "read", params=[
                KEY, _path("scan_id", "", "^[0-9]{1,12}$"),
                *(_query(n, {"type": "integer", "minimum": 1}) for n in PAGED_LISTS)],
            errors=(404, 422))},
        "/sites/{key}/consents": {"get": _op(
            "adminSearchConsents", "Search the consent log (newest first)", "read", params=[
                KEY, *(_query(n, s) for n, s in _FILTER.items()),
                _query("after", {"type": "string"}, "`next` of the page before")],
            errors=(404, 422))},
        "/sites/{key}/exports": {"post": _op(
            "adminExportReceipts", "The receipts the filter matches, streamed (audited)",
            "write", params=[KEY], body=export, errors=(404,), media="application/x-ndjson")},
        "/sites/{key}/analytics": {"get": _op(
            "adminAnalytics", "Consent outcomes and purpose rates per day or week", "read",
            params=[KEY, {**_query("from", DAY), "required": True},
                    {**_query("to", DAY), "required": True},
                    _query("bucket", {"type": "string", "enum": ["day", "week"]})],
            errors=(404, 422))},
        "/audit": {"get": _op(
            "adminAuditLog", "The audit log, newest first, within the token's sites", "write",
            params=[_query("site", ID, "A site's id"), _query("staff", ID),
                    _query("action", {"type": "string", "maxLength": 64}),
                    _query("from", DAY), _query("to", DAY), _query("before", ID)],
            errors=(422,))},
    }
    return {f"{BASE}{path}": ops for path, ops in p.items()}


def admin_components() -> tuple[dict[str, Any], dict[str, Any]]:
    """The schemas (``AdminError``, ``ItemChange``, ``VendorChange`` and what they use) and
    the security scheme."""
    from pydantic.json_schema import models_json_schema

    _, found = models_json_schema([(ItemChange, "validation"), (VendorChange, "validation")],
                                  ref_template=_REF)
    schemas = dict(found.get("$defs", {}))
    schemas["AdminError"] = _obj({"error": _obj({
        "code": {"type": "string"}, "message": {"type": "string"},
        "field": {"type": ["string", "null"]},
        "errors": {"type": "array", "items": _OBJECT}, "keys": {"type": "array"}},
        ("code", "message"))}, ("error",))
    scheme = {"bearerToken": {
        "type": "http", "scheme": "bearer", "bearerFormat": "cmp_<id>_<secret>",
        "description": "An API token an owner made on the admin's API tokens page: read "
                       "(the viewer role) or write (the privacy role), for some sites or all."}}
    return schemas, scheme

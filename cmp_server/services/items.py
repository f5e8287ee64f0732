"""Changing a site's inventory: one item added by hand or edited, and bulk actions on many.

Every change is audited (``inventory.create``, ``inventory.update``, ``inventory.bulk_*``,
one entry per item with its values before and after) in the transaction that makes it, and
a bulk action is one ``UPDATE ... WHERE site_id = ... AND id IN (...)``. Staff's input is
checked by :class:`ItemChange` (errors per field, for the admin's forms); the purpose and
vendor named must be the site's own. What an item is and what gone means: ``inventory.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from tortoise.transactions import in_transaction

from scanner.kb import KnowledgeBase

from ..errors import Conflict, InvalidRequest, NotFound, as_value_error
from ..models import AuditEntry, InventoryItem, Purpose, Site, Vendor, vendor_sort
from . import audit, revisions
from ._text import check_text, check_texts
from .inventory import Choices, Flag, Kind, Status, flag_of
from .scan_truth import offered_vendor
from .staff import Actor

__all__ = [
    "BULK_ACTIONS",
    "MAX_BULK",
    "ItemChange",
    "ItemDetail",
    "Suggestion",
    "bulk_update",
    "create_item",
    "get_item",
    "update_item",
]

BULK_ACTIONS = ("set_purpose", "set_vendor", "mark_reviewed", "mark_gone")
MAX_BULK = 500  # rows one bulk action may name: a page holds at most 200
MAX_DURATION_DAYS = 36_500

BulkAction = Literal["set_purpose", "set_vendor", "mark_reviewed", "mark_gone"]


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What the knowledge base says of an item: stored when a scan found it, else looked up."""

    purpose: str | None
    vendor: str | None
    vendor_name: str | None
    duration_days: int | None
    description: str | None
    stored: bool  # recorded by a scan (False: looked up now, for an item added by hand)


@dataclass(frozen=True, slots=True)
class ItemDetail:
    item: InventoryItem  # with ``vendor`` and ``purpose`` fetched
    suggestion: Suggestion | None
    flag: Flag | None
    history: tuple[AuditEntry, ...] = field(default=())  # its last changes, newest first


def _suggestion(item: InventoryItem) -> Suggestion | None:
    if item.suggested_purpose or item.suggested_vendor:
        vendor = offered_vendor(item.suggested_vendor)
        return Suggestion(
            item.suggested_purpose, vendor, item.suggested_vendor_name if vendor else None,
            item.suggested_duration_days, item.suggested_description, True,
        )
    kb = KnowledgeBase.builtin()
    name = item.name if item.match == "exact" else item.name + "x"
    try:
        found = (
            kb.match_cookie(name, item.domain)
            if item.kind == "cookie"
            else kb.match_storage(item.kind, name, (item.domain or "").lstrip(".") or None)
        )
    except ValueError:
        return None
    if found is None:
        return None
    return Suggestion(
        found.category, found.vendor.key if found.vendor else None,
        found.vendor.name if found.vendor else None, found.duration_days,
        found.describe("en") or None, False,
    )


async def get_item(site: Site, item_id: int, *, history: bool = True) -> ItemDetail:
    item = await InventoryItem.get_or_none(site=site, id=item_id).select_related(
        "vendor", "purpose"
    )
    if item is None:
        raise NotFound(f"no inventory item {item_id} on this site")
    purpose = item.purpose
    flag = flag_of(item.before_consent, item.missing_since is not None, item.review_status,
                   purpose.key if purpose else None, bool(purpose and purpose.required))
    entries: tuple[AuditEntry, ...] = ()
    if history:
        entries = tuple(
            await AuditEntry.filter(
                site_id=site.id, object_type="inventory_item", object_id=str(item.id)
            ).order_by("-id").limit(20)
        )
    return ItemDetail(item, _suggestion(item), flag, entries)


class ItemChange(BaseModel):
    """An item as staff set it, checked: one line of text where a name goes, no NUL, kinds
    and matches from their lists, a duration in days (empty: a session cookie or storage).
    Validated with ``context={"choices": Choices}``, a purpose or vendor key the site lacks
    is an error of that field."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=255)
    match: Literal["exact", "prefix"] = "exact"
    kind: Kind = "cookie"
    domain: str | None = Field(default=None, max_length=255)
    party: Literal["first", "third"] = "first"
    purpose: str | None = Field(default=None, max_length=40)
    vendor: str | None = Field(default=None, max_length=64)
    duration_days: int | None = Field(default=None, ge=0, le=MAX_DURATION_DAYS)
    description: dict[str, str] = Field(default_factory=dict, max_length=40)
    review_status: Status = "reviewed"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return as_value_error(check_text, value, "a name", 255)

    @field_validator("domain", mode="before")
    @classmethod
    def _domain(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = as_value_error(check_text, value.strip().lower(), "a domain", 255)
            if text and not all(c.isalnum() or c in ".-_:" for c in text):
                raise ValueError("a domain has letters, digits, dots and hyphens only")
            return text or None
        return value

    @field_validator("purpose", "vendor", mode="before")
    @classmethod
    def _key(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and info.context and "choices" in info.context:
            known: Choices = info.context["choices"]
            keys = known.purpose_keys if info.field_name == "purpose" else known.vendor_keys
            if value not in keys:
                raise ValueError(f"no {info.field_name} {value!r} on this site")
        return value

    @field_validator("description")
    @classmethod
    def _description(cls, value: dict[str, str]) -> dict[str, str]:
        checked = as_value_error(check_texts, value, "a description", 2000)
        return {k: v for k, v in checked.items() if v}

    def snapshot(self) -> dict[str, Any]:
        return self.model_dump(mode="json")



def _snapshot(item: InventoryItem, purpose: str | None, vendor: str | None) -> dict[str, Any]:
    return {
        "name": item.name, "match": item.match, "kind": item.kind, "domain": item.domain,
        "party": item.party, "purpose": purpose, "vendor": vendor,
        "duration_days": item.duration_days, "description": dict(item.description or {}),
        "review_status": item.review_status,
    }


async def _resolve(site: Site, change: ItemChange) -> tuple[Purpose | None, Vendor | None]:
    purpose = vendor = None
    if change.purpose is not None:
        purpose = await Purpose.get_or_none(site=site, key=change.purpose)
        if purpose is None:
            raise InvalidRequest(f"no purpose {change.purpose!r} on this site", field="purpose")
    if change.vendor is not None:
        vendor = await Vendor.get_or_none(site=site, key=change.vendor)
        if vendor is None:
            raise InvalidRequest(f"no vendor {change.vendor!r} on this site", field="vendor")
    return purpose, vendor


async def _refuse_duplicate(site: Site, change: ItemChange, other_than: int | None) -> None:
    twin = InventoryItem.filter(site=site, kind=change.kind, name=change.name,
                                domain=change.domain)
    if other_than is not None:
        twin = twin.exclude(id=other_than)
    if await twin.exists():
        raise Conflict(f"the inventory already has the {change.kind} {change.name!r}"
                       + (f" on {change.domain}" if change.domain else ""), field="name")


async def create_item(site: Site, change: ItemChange, *, by: Actor | None = None) -> InventoryItem:
    """Add an item by hand (``source="manual"``); the same kind, name and domain twice is a
    ``Conflict``."""
    async with in_transaction():
        purpose, vendor = await _resolve(site, change)
        await _refuse_duplicate(site, change, None)
        item = await InventoryItem.create(
            site=site, name=change.name, match=change.match, kind=change.kind,
            domain=change.domain, party=change.party, purpose=purpose, vendor=vendor,
            vendor_sort=vendor_sort(vendor.name if vendor else None),
            duration_days=change.duration_days, description=change.description,
            review_status=change.review_status, source="manual",
        )
        await audit.record(by, "inventory.create", "inventory_item", item.id, site=site,
                           after=change.snapshot())
    return item


async def update_item(
    site: Site, item_id: int, change: ItemChange, *, by: Actor | None = None,
    version: int | None = None,
) -> InventoryItem:
    """Staff's edit of one item, audited with the item before and after; over ``version``
    (``revisions.item``) when given."""
    async with in_transaction():
        item = await InventoryItem.select_for_update().get_or_none(
            site=site, id=item_id
        )
        if item is None:
            raise NotFound(f"no inventory item {item_id} on this site")
        old_purpose = await Purpose.get_or_none(id=item.purpose_id) if item.purpose_id else None  # type: ignore[attr-defined]
        old_vendor = await Vendor.get_or_none(id=item.vendor_id) if item.vendor_id else None  # type: ignore[attr-defined]
        before = _snapshot(item, old_purpose.key if old_purpose else None,
                           old_vendor.key if old_vendor else None)
        purpose, vendor = await _resolve(site, change)
        await _refuse_duplicate(site, change, item.id)
        item.name, item.match, item.kind = change.name, change.match, change.kind
        item.domain, item.party = change.domain, change.party
        item.purpose, item.vendor = purpose, vendor
        item.vendor_sort = vendor_sort(vendor.name if vendor else None)
        item.duration_days, item.description = change.duration_days, change.description
        item.review_status = change.review_status
        await item.save()
        after = change.snapshot()
        if after != before:
            entry = await audit.record(by, "inventory.update", "inventory_item", item.id,
                                       site=site, before=before, after=after)
            await revisions.advance(revisions.item(site, item.id), entry, version)
    return item


async def bulk_update(
    site: Site,
    ids: Sequence[int],
    action: BulkAction,
    *,
    purpose: str | None = None,
    vendor: str | None = None,
    by: Actor | None = None,
    versions: Mapping[int, int] | None = None,
) -> int:
    """One action on the selected rows of this site, in one UPDATE, audited as one entry
    with each row's value before: ``set_purpose`` (choosing a purpose reviews the item),
    ``set_vendor`` (``None``: no vendor), ``mark_reviewed``, ``mark_gone``. Returns how many
    rows changed; ids of other sites are ignored. ``versions``: each row's version as the
    list showed it (``revisions.item``); a row changed since refuses the whole action
    (``StaleEdit``, its keys naming those rows), so nothing is overwritten unseen."""
    if action not in BULK_ACTIONS:
        raise InvalidRequest(f"the action must be one of {', '.join(BULK_ACTIONS)}",
                             field="action")
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        raise InvalidRequest("select one or more items first", field="ids")
    if len(wanted) > MAX_BULK:
        raise InvalidRequest(f"one action changes at most {MAX_BULK} items", field="ids")
    update: dict[str, Any]
    audited: str
    value: Any
    if action == "set_purpose":
        if not purpose:
            raise InvalidRequest("choose the purpose to set", field="purpose")
        row = await Purpose.get_or_none(site=site, key=purpose)
        if row is None:
            raise InvalidRequest(f"no purpose {purpose!r} on this site", field="purpose")
        update = {"purpose_id": row.id, "review_status": "reviewed"}
        audited, value = "purpose", purpose
    elif action == "set_vendor":
        vendor_row = await Vendor.get_or_none(site=site, key=vendor) if vendor else None
        if vendor and vendor_row is None:
            raise InvalidRequest(f"no vendor {vendor!r} on this site", field="vendor")
        update = {"vendor_id": vendor_row.id if vendor_row else None,
                  "vendor_sort": vendor_sort(vendor_row.name if vendor_row else None)}
        audited, value = "vendor", vendor or None
    else:
        status = "reviewed" if action == "mark_reviewed" else "gone"
        update, audited, value = {"review_status": status}, "review_status", status
    column = {"purpose": "purpose__key", "vendor": "vendor__key"}.get(audited, audited)
    async with in_transaction():
        rows = await (
            InventoryItem.filter(site_id=site.id, id__in=wanted)
            .select_for_update()
            .values(*dict.fromkeys(("id", column, "review_status")))
        )
        if not rows:
            raise NotFound("none of the selected items is on this site")
        found = [int(r["id"]) for r in rows]
        changed = await InventoryItem.filter(site_id=site.id, id__in=found).update(**update)
        after = {audited: value}
        if action == "set_purpose":
            after["review_status"] = "reviewed"

        def entry(row: dict[str, Any]) -> AuditEntry:
            was = {audited: row[column], "review_status": row["review_status"]}
            return AuditEntry(
                staff_id=by.id if by else None, actor=by.email if by else audit.SYSTEM,
                site=site, action=f"inventory.bulk_{action}", object_type="inventory_item",
                object_id=str(row["id"]), before={k: was[k] for k in after}, after=after,
            )

        # One entry per item, so an item's history shows bulk changes too; in one INSERT
        # (as audit.record writes each: 50 round trips were most of a bulk action's time).
        await AuditEntry.bulk_create([entry(r) for r in rows])
        # The rows are locked: the newest entry of theirs is this action's last one.
        last = await AuditEntry.filter(
            site_id=site.id, object_type="inventory_item", object_id__in=[str(i) for i in found]
        ).order_by("-id").first()
        expected = {revisions.item(site, i): (versions or {}).get(i) for i in found}
        await revisions.advance_all(expected, last.id if last else 0)
    return int(changed)

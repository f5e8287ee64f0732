"""The inventory's services: the list (filters, sorting, paging by the database), changing
items one at a time and in bulk, what the knowledge base suggested, the flags, and vendors.
Every change audited with before and after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette

from cmp_server.errors import Conflict, InvalidRequest, NotFound
from cmp_server.models import AuditEntry, InventoryItem, Site, vendor_sort
from cmp_server.services import inventory, items, publishing, sites, vendors
from cmp_server.services.inventory import ItemQuery
from cmp_server.services.items import ItemChange
from cmp_server.services.scan_results import store_scan
from cmp_server.services.staff import Actor
from cmp_server.services.vendors import VendorChange
from scanner import ReportItem, ScanReport

from .factories import published_site, staff_member


async def actor() -> Actor:
    member = await staff_member("privacy")
    return Actor(member.id, member.email, member.name, member.role, "s", "t")


def seen(name: str, category: str = "statistics", vendor: str | None = "google_analytics",
         passes: tuple[str, ...] = ("accept",), **kw: Any) -> ReportItem:
    fields: dict[str, Any] = {
        "kind": "cookie", "name": name, "domain": "shop.example", "path": "/",
        "party": "first", "vendor": vendor, "category": category, "passes": passes,
        "first_seen_url": "https://shop.example/", "set_by": "script", "initiator": None,
        "expires_days": 399.6, "http_only": False, "secure": True, "same_site": "Lax",
        "description": "Tells visitors apart.", "vendor_name": "Google Analytics" if vendor
        else None, "kb_duration_days": 400.0,
    }
    fields.update(kw)
    return ReportItem.model_validate(fields)


def scan(*found: ReportItem, at: datetime | None = None) -> ScanReport:
    now = at or datetime.now(UTC)
    return ScanReport(start_url="https://shop.example/", started_at=now, finished_at=now,
                      pages=(), items=found, requests=(), violations=(), review=())


async def many(site: Site, n: int, **fields: Any) -> list[InventoryItem]:
    rows = [
        InventoryItem(site=site, name=f"c{i:04d}", kind="cookie", review_status="unreviewed",
                      source="scan", description={}, **fields)
        for i in range(n)
    ]
    await InventoryItem.bulk_create(rows)
    return list(await InventoryItem.filter(site=site, name__startswith="c0").order_by("name"))


def names(page: inventory.Page) -> list[str]:
    return [row.name for row in page.items]


# -- the list ------------------------------------------------------------------------------


async def test_the_list_is_paged_and_counted_by_the_database(app: Starlette) -> None:
    site, _ = await published_site()  # _ga, _ga_, cmp_consent
    await many(site, 60)
    first = await inventory.list_items(site, ItemQuery(per_page=25))
    assert first.total == 63 and first.pages == 3 and len(first.items) == 25
    assert names(first)[:3] == ["_ga", "_ga_", "c0000"]
    third = await inventory.list_items(site, ItemQuery(per_page=25, page=3))
    assert len(third.items) == 13 and (third.first, third.last) == (51, 63)
    assert names(third)[-1] == "cmp_consent"
    past = await inventory.list_items(site, ItemQuery(per_page=25, page=99))
    assert past.query.page == 3 and names(past) == names(third)
    every = set(names(first)) | set(names(await inventory.list_items(
        site, ItemQuery(per_page=25, page=2)))) | set(names(third))
    assert len(every) == 63  # no row on two pages, none left out


async def test_filters_sorting_and_search(app: Starlette) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    await inventory.add_item(other, name="_ga_other", purpose="statistics", vendor="google")
    await inventory.add_item(site, name="xga", kind="localStorage", review_status="unreviewed")

    async def listed(**q: Any) -> list[str]:
        return names(await inventory.list_items(site, ItemQuery(**q)))

    assert await listed() == ["_ga", "_ga_", "cmp_consent", "xga"]  # never the other site's
    assert await listed(status="unreviewed") == ["xga"]
    assert await listed(purpose="statistics") == ["_ga", "_ga_"]
    assert await listed(purpose="none") == ["xga"]
    assert await listed(purpose="marketing") == []
    assert await listed(purpose="nonexistent") == []
    assert await listed(vendor="google") == ["_ga", "_ga_"]
    assert await listed(vendor="none") == ["cmp_consent", "xga"]
    assert await listed(kind="localStorage") == ["xga"]
    assert await listed(search="GA") == ["_ga", "_ga_", "xga"]
    assert await listed(search="_ga") == ["_ga", "_ga_"]  # "_" is a letter here, not a wildcard
    assert await listed(search="%") == []
    assert await listed(sort="-name") == ["xga", "cmp_consent", "_ga_", "_ga"]
    # necessary comes first, statistics next, no purpose last; the other way round descending
    assert await listed(sort="purpose") == ["cmp_consent", "_ga", "_ga_", "xga"]
    assert await listed(sort="-purpose") == ["xga", "_ga_", "_ga", "cmp_consent"]
    assert await listed(sort="vendor") == ["_ga", "_ga_", "cmp_consent", "xga"]
    assert await listed(sort="kind") == ["_ga", "_ga_", "cmp_consent", "xga"]
    row = (await inventory.list_items(site, ItemQuery(search="_ga_"))).items[0]
    assert (row.vendor_name, row.purpose_key, row.match) == ("Google", "statistics", "prefix")


async def test_the_order_by_vendor_follows_every_way_a_vendor_is_set(app: Starlette) -> None:
    """The vendor's name is kept on the item for the sort's index (``vendor_sort``): a scan,
    an item added or changed one at a time or in bulk, and a vendor renamed all keep it."""
    site, _ = await published_site()  # _ga, _ga_ by Google; cmp_consent without a vendor
    by = await actor()
    await store_scan(site, scan(seen("_hjid", "statistics", "hotjar", vendor_name="Hotjar")))
    zeta = await vendors.create_vendor(site, VendorChange(name="Zeta", key="zeta"), by=by)
    made = await items.create_item(site, ItemChange(name="aaa", vendor="zeta"), by=by)
    await inventory.add_item(site, name="bbb", vendor="zeta")

    async def by_vendor(sort: str = "vendor") -> list[tuple[str, str | None]]:
        return [(row.name, row.vendor_name) for row in
                (await inventory.list_items(site, ItemQuery(sort=sort))).items]

    order = await by_vendor()
    assert [n for n, _ in order] == ["_ga", "_ga_", "_hjid", "aaa", "bbb", "cmp_consent"]
    assert await by_vendor("-vendor") == list(reversed(order))  # no vendor first, descending

    # renamed to come first: both of its items move with it
    await vendors.update_vendor(site, zeta.id, VendorChange(name="Alpha"), by=by)
    assert [n for n, _ in await by_vendor()][:2] == ["aaa", "bbb"]
    await inventory.add_vendor(site, key="zeta", name="Zulu")
    assert [n for n, _ in await by_vendor()][-3:] == ["aaa", "bbb", "cmp_consent"]
    # one item changed, then two in bulk
    await items.update_item(site, made.id, ItemChange(name="aaa", vendor=None), by=by)
    assert (await by_vendor())[-1] == ("cmp_consent", None)
    assert (await by_vendor())[-2] == ("aaa", None)
    ids = [i.id for i in await InventoryItem.filter(site=site, name__in=("aaa", "cmp_consent"))]
    await items.bulk_update(site, ids, "set_vendor", vendor="google", by=by)
    assert [n for n, _ in await by_vendor()][:4] == ["_ga", "_ga_", "aaa", "cmp_consent"]
    for row in await InventoryItem.filter(site=site).prefetch_related("vendor"):
        assert row.vendor_sort == vendor_sort(row.vendor.name if row.vendor else None)


@pytest.mark.parametrize("bad", [
    {"sort": "password"}, {"sort": "--name"}, {"per_page": 7}, {"page": 0}, {"status": "x"},
    {"kind": "flash"}, {"seen": "old"}, {"flag": "x"}, {"search": "a\x00b"},
    {"search": "x" * 256},
])
def test_a_bad_query_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        ItemQuery(**bad)


async def test_iter_items_reads_every_match_in_batches(app: Starlette) -> None:
    site, _ = await published_site()
    await many(site, 23)
    rows = [row.name async for row in inventory.iter_items(
        site, ItemQuery(status="unreviewed", sort="-name"), batch=5)]
    assert rows == [f"c{i:04d}" for i in reversed(range(23))]


async def test_new_missing_and_the_flags_follow_the_scans_and_the_purpose(app: Starlette) -> None:
    site, _ = await published_site()
    earlier = datetime.now(UTC) - timedelta(hours=1)
    await store_scan(site, scan(seen("_ga"), seen("cmp_consent", "necessary", None), at=earlier))
    await store_scan(site, scan(
        seen("_ga", passes=("none", "accept")),           # statistics before consent
        seen("_ga_X1", passes=("accept",)),               # covered by the prefix _ga_
        seen("mystery", "unclassified", None, passes=("reject",)),
        seen("_fbp", "marketing", "meta", passes=("accept",)),
    ))

    async def listed(**q: Any) -> list[str]:
        return names(await inventory.list_items(site, ItemQuery(**q)))

    assert await listed(seen="new") == ["_fbp", "mystery"]
    assert await listed(seen="missing") == ["cmp_consent"]
    assert await listed(flag="violation") == ["_ga"]
    assert await listed(flag="review") == ["mystery"]
    counts = await inventory.counts(site)
    assert (counts.total, counts.unreviewed, counts.violations, counts.review, counts.missing) \
        == (5, 2, 1, 1, 1)
    rows = {r.name: r for r in (await inventory.list_items(site)).items}
    assert rows["_ga"].flag == "violation" and rows["mystery"].flag == "review"
    assert rows["_fbp"].new and not rows["_ga"].new and rows["_fbp"].flag is None
    # Staff classify the mystery as necessary: no flag; _ga as necessary: no violation either.
    mystery, ga = rows["mystery"].id, rows["_ga"].id
    await items.bulk_update(site, [mystery, ga], "set_purpose", purpose="necessary")
    assert await listed(flag="violation") == [] and await listed(flag="review") == []
    await items.bulk_update(site, [mystery], "set_purpose", purpose="marketing")
    assert await listed(flag="violation") == ["mystery"]
    # A scan that no longer sees it before consent drops the flag.
    await store_scan(site, scan(seen("mystery", "unclassified", None, passes=("accept",))))
    assert await listed(flag="violation") == []


async def test_a_scan_records_what_the_knowledge_base_suggested(app: Starlette) -> None:
    site, _ = await published_site()
    await store_scan(site, scan(seen("_fbp", "marketing", "meta", vendor_name="Meta Pixel",
                                     kb_duration_days=90.0, description="Ads.")))
    row = (await inventory.list_items(site, ItemQuery(search="_fbp"))).items[0]
    assert (row.suggested_purpose, row.suggested_vendor, row.suggested_vendor_name) == (
        "marketing", "meta", "Meta Pixel")
    # Staff choose otherwise: the suggestion stays beside the choice.
    await items.bulk_update(site, [row.id], "set_purpose", purpose="statistics")
    detail = await items.get_item(site, row.id)
    assert detail.item.purpose is not None and detail.item.purpose.key == "statistics"
    assert detail.suggestion is not None and detail.suggestion.stored
    assert (detail.suggestion.purpose, detail.suggestion.duration_days,
            detail.suggestion.description) == ("marketing", 90, "Ads.")


async def test_an_item_added_by_hand_gets_a_suggestion_looked_up(app: Starlette) -> None:
    site, _ = await published_site()
    added = await items.create_item(site, ItemChange(name="_fbp", domain=".shop.example"))
    detail = await items.get_item(site, added.id)
    assert detail.suggestion is not None and not detail.suggestion.stored
    assert detail.suggestion.purpose == "marketing" and detail.suggestion.vendor_name
    unknown = await items.create_item(site, ItemChange(name="zz-our-own-thing"))
    assert (await items.get_item(site, unknown.id)).suggestion is None


async def test_a_gone_item_is_not_published_and_comes_back_when_seen(app: Starlette) -> None:
    site, _ = await published_site()
    ga = await InventoryItem.get(site=site, name="_ga")
    assert await items.bulk_update(site, [ga.id], "mark_gone") == 1
    config = await publishing.build_config(site, 2)
    assert [c.name for c in config.cookies] == ["_ga_", "cmp_consent"]
    assert names(await inventory.list_items(site, ItemQuery(status="gone"))) == ["_ga"]
    await store_scan(site, scan(seen("_ga")))
    await ga.refresh_from_db()
    assert ga.review_status == "unreviewed" and ga.missing_since is None


# -- changes, audited ----------------------------------------------------------------------


async def test_bulk_actions_change_only_this_sites_rows_and_audit_each(app: Starlette) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    foreign = await inventory.add_item(other, name="theirs", review_status="unreviewed")
    rows = await many(site, 5)
    by = await actor()
    ids = [r.id for r in rows[:3]] + [foreign.id]
    assert await items.bulk_update(site, ids, "set_purpose", purpose="marketing", by=by) == 3
    await foreign.refresh_from_db()
    assert foreign.purpose_id is None and foreign.review_status == "unreviewed"  # type: ignore[attr-defined]
    changed = await InventoryItem.filter(site=site, purpose__key="marketing").order_by("name")
    assert [r.name for r in changed] == ["c0000", "c0001", "c0002"]
    assert all(r.review_status == "reviewed" for r in changed)
    entries = await AuditEntry.filter(action="inventory.bulk_set_purpose").order_by("id")
    assert [e.object_id for e in entries] == [str(r.id) for r in rows[:3]]
    assert entries[0].before == {"purpose": None, "review_status": "unreviewed"}
    assert entries[0].after == {"purpose": "marketing", "review_status": "reviewed"}
    assert entries[0].staff_id == by.id and entries[0].site_id == site.id  # type: ignore[attr-defined]
    assert all(e.at is not None and e.actor == by.email for e in entries)

    assert await items.bulk_update(site, [rows[0].id], "set_vendor", vendor="google", by=by) == 1
    assert await items.bulk_update(site, [rows[0].id], "set_vendor", vendor=None, by=by) == 1
    last = await AuditEntry.filter(action="inventory.bulk_set_vendor").order_by("-id").first()
    assert last is not None and (last.before, last.after) == ({"vendor": "google"},
                                                               {"vendor": None})
    assert await items.bulk_update(site, [r.id for r in rows], "mark_reviewed", by=by) == 5
    assert await InventoryItem.filter(site=site, review_status="unreviewed").count() == 0


@pytest.mark.parametrize(("ids", "action", "extra"), [
    ([], "mark_reviewed", {}),
    (list(range(1, 502)), "mark_reviewed", {}),
    ([1], "delete_everything", {}),
    ([1], "set_purpose", {}),
    ([1], "set_purpose", {"purpose": "nonexistent"}),
    ([1], "set_vendor", {"vendor": "nonexistent"}),
])
async def test_a_bad_bulk_action_changes_nothing(
    app: Starlette, ids: list[int], action: Any, extra: dict[str, Any]
) -> None:
    site, _ = await published_site()
    before = await InventoryItem.filter(site=site).order_by("id").values()
    with pytest.raises(InvalidRequest):
        await items.bulk_update(site, ids, action, **extra)
    assert await InventoryItem.filter(site=site).order_by("id").values() == before
    assert not await AuditEntry.filter(object_type__in=("inventory_item", "vendor")).exists()


async def test_bulk_on_no_row_of_this_site_is_not_found(app: Starlette) -> None:
    site, _ = await published_site()
    with pytest.raises(NotFound):
        await items.bulk_update(site, [987654], "mark_gone")


async def test_create_and_update_an_item_are_audited_before_and_after(app: Starlette) -> None:
    site, _ = await published_site()
    by = await actor()
    change = ItemChange(name="  session_id ", kind="cookie", purpose="necessary",
                        duration_days=None, description={"en": "Keeps you signed in.", "sv": ""})
    item = await items.create_item(site, change, by=by)
    assert (item.name, item.source, item.review_status) == ("session_id", "manual", "reviewed")
    created = await AuditEntry.get(action="inventory.create")
    assert created.before is None and created.after is not None
    assert created.after["name"] == "session_id" and created.after["description"] == {
        "en": "Keeps you signed in."}
    with pytest.raises(Conflict):
        await items.create_item(site, change)

    edit = ItemChange(name="session_", match="prefix", purpose="preferences", vendor="google",
                      duration_days=30, description={"en": "Signed in.", "sv": "Inloggad."},
                      review_status="reviewed")
    await items.update_item(site, item.id, edit, by=by)
    detail = await items.get_item(site, item.id)
    assert detail.item.vendor is not None and detail.item.vendor.key == "google"
    assert (detail.item.match, detail.item.duration_days) == ("prefix", 30)
    updated = await AuditEntry.get(action="inventory.update")
    assert updated.before is not None and updated.after is not None
    assert (updated.before["purpose"], updated.after["purpose"]) == ("necessary", "preferences")
    assert (updated.before["vendor"], updated.after["vendor"]) == (None, "google")
    assert [e.action for e in detail.history] == ["inventory.update", "inventory.create"]
    # Saving the same again writes no entry; another item's name is a conflict.
    await items.update_item(site, item.id, edit, by=by)
    assert await AuditEntry.filter(action="inventory.update").count() == 1
    with pytest.raises(Conflict):
        await items.update_item(site, item.id, ItemChange(name="_ga"))
    with pytest.raises(NotFound):
        await items.update_item(site, 987654, edit)
    other, _ = await published_site("Other", ("other.example",))
    with pytest.raises(NotFound):
        await items.get_item(other, item.id)
    with pytest.raises(NotFound):
        await items.update_item(other, item.id, edit)


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": ""}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"name": "a\nb"}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"kind": "flash"}, "kind"),
    ({"match": "regex"}, "match"),
    ({"party": "fourth"}, "party"),
    ({"duration_days": -1}, "duration_days"),
    ({"duration_days": 10**12}, "duration_days"),
    ({"duration_days": "soon"}, "duration_days"),
    ({"domain": "exa mple.com"}, "domain"),
    ({"domain": "<script>"}, "domain"),
    ({"purpose": "nonexistent"}, "purpose"),
    ({"vendor": "nonexistent"}, "vendor"),
    ({"description": {"en": "a\x00"}}, "description"),
    ({"description": {"en": "x" * 2001}}, "description"),
    ({"description": {"<b>": "x"}}, "description"),
    ({"review_status": "deleted"}, "review_status"),
])
async def test_item_changes_are_checked_field_by_field(
    app: Starlette, fields: dict[str, Any], field: str
) -> None:
    site, _ = await published_site()
    known = await inventory.choices(site)
    with pytest.raises(ValidationError) as caught:
        ItemChange.model_validate({"name": "ok", **fields}, context={"choices": known})
    assert {str(e["loc"][0]) for e in caught.value.errors()} == {field}


async def test_unicode_names_are_kept(app: Starlette) -> None:
    site, _ = await published_site()
    item = await items.create_item(site, ItemChange(name="größe_🍪", domain="Shop.Example"))
    detail = await items.get_item(site, item.id)
    assert (detail.item.name, detail.item.domain) == ("größe_🍪", "shop.example")
    assert names(await inventory.list_items(site, ItemQuery(search="GRÖSSE"))) in (
        [], ["größe_🍪"])  # case folding of non-ASCII differs between the databases
    assert names(await inventory.list_items(site, ItemQuery(search="größe"))) == ["größe_🍪"]


async def test_an_item_of_a_service_names_only_this_sites_purpose(app: Starlette) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    await inventory.add_vendor(other, key="theirs", name="Theirs")
    with pytest.raises(InvalidRequest):
        await items.create_item(site, ItemChange(name="x", vendor="theirs"))
    assert not await InventoryItem.filter(site=site, name="x").exists()


# -- vendors -------------------------------------------------------------------------------


async def test_vendors_are_created_with_a_key_from_the_name_and_audited(app: Starlette) -> None:
    site, _ = await published_site()
    by = await actor()
    first = await vendors.create_vendor(site, VendorChange(
        name="Hotjar Ltd.", country="mt", privacy_policy_url="https://www.hotjar.com/privacy",
        transfers_outside_eea=False, description={"en": "Heatmaps."}), by=by)
    second = await vendors.create_vendor(site, VendorChange(name="Hotjar  Ltd"))
    assert (first.key, first.country, second.key) == ("hotjar-ltd", "MT", "hotjar-ltd-2")
    assert (await vendors.create_vendor(site, VendorChange(name="Åre Fjäll"))).key == "are-fjall"
    with pytest.raises(Conflict):
        await vendors.create_vendor(site, VendorChange(name="G", key="google"))
    created = await AuditEntry.get(action="vendor.create", object_id=str(first.id))
    assert created.after is not None and created.after["key"] == "hotjar-ltd"

    await vendors.update_vendor(site, first.id, VendorChange(
        name="Hotjar", country="MT", transfers_outside_eea=True,
        transfer_basis="Standard contractual clauses"), by=by)
    entry = await AuditEntry.get(action="vendor.update")
    assert entry.before is not None and entry.after is not None
    assert (entry.before["transfers_outside_eea"], entry.after["transfers_outside_eea"]) == (
        False, True)
    assert entry.after["key"] == "hotjar-ltd"  # the key stays
    with pytest.raises(NotFound):
        await vendors.update_vendor(site, 987654, VendorChange(name="x"))
    other, _ = await published_site("Other", ("other.example",))
    with pytest.raises(NotFound):
        await vendors.get_vendor(other, first.id)


async def test_vendor_list_counts_items_and_pages(app: Starlette) -> None:
    site, _ = await published_site()
    for i in range(12):
        await vendors.create_vendor(site, VendorChange(name=f"Vendor {i:02d}"))
    page = await vendors.list_vendors(site, per_page=5)
    assert page.total == 13 and page.pages == 3
    assert [v.name for v in page.vendors][:2] == ["Google", "Vendor 00"]
    assert page.vendors[0].items == 2 and page.vendors[1].items == 0
    assert [v.name for v in (await vendors.list_vendors(site, search="oog")).vendors] == [
        "Google"]


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": ""}, "name"),
    ({"name": "a\x00"}, "name"),
    ({"country": "Sweden"}, "country"),
    ({"country": "1X"}, "country"),
    ({"privacy_policy_url": "javascript:alert(1)"}, "privacy_policy_url"),
    ({"privacy_policy_url": "data:text/html,x"}, "privacy_policy_url"),
    ({"privacy_policy_url": "/privacy"}, "privacy_policy_url"),
    ({"key": "Not A Key!"}, "key"),
    ({"transfers_outside_eea": "maybe"}, "transfers_outside_eea"),
    ({"transfer_basis": "x" * 201}, "transfer_basis"),
])
def test_vendor_changes_are_checked_field_by_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        VendorChange.model_validate({"name": "ok", **fields})
    assert {str(e["loc"][0]) for e in caught.value.errors()} == {field}


async def test_a_refused_change_leaves_no_audit_entry(app: Starlette) -> None:
    site, _ = await published_site()
    with pytest.raises(InvalidRequest):
        await items.create_item(site, ItemChange(name="x", purpose="nonexistent"))
    assert not await AuditEntry.filter(object_type__in=("inventory_item", "vendor")).exists()
    assert not await InventoryItem.filter(site=await sites.get_site(site.key), name="x").exists()


async def test_an_unfiltered_list_takes_the_total_already_counted(app: Starlette) -> None:
    """The list page counts the site's items once (``counts``), not again for the pager."""
    site, _ = await published_site()  # three items
    counted = await inventory.counts(site)
    page = await inventory.list_items(site, inventory.ItemQuery(), total=counted.total)
    assert page.total == counted.total == 3 == len(page.items)
    search = inventory.ItemQuery(search="_ga")
    assert search.filtered and not inventory.ItemQuery(sort="-vendor").filtered
    assert (await inventory.list_items(site, search, total=counted.total)).total == 2

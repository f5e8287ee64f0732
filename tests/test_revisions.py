"""No lost update (``services/revisions.py``): the compare-and-set of a thing's version in
every service that saves what a form edits, on the database the suite runs on (SQLite by
default, PostgreSQL with ``CMP_TEST_DATABASE_URL``)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from cmp_server.errors import StaleEdit
from cmp_server.models import AuditEntry, InventoryItem, Purpose, Site, Staff, Vendor
from cmp_server.services import (
    audit,
    drafts,
    items,
    retention,
    revisions,
    sites,
    staff_lifecycle,
    vendors,
)
from cmp_server.services.items import ItemChange
from cmp_server.services.staff import Actor
from cmp_server.services.vendors import VendorChange

from .factories import published_site, staff_member


async def actor(role: str = "privacy") -> Actor:
    member = await staff_member(role)
    return Actor(member.id, member.email, member.name, member.role, "s", "t")


async def test_two_tabs_on_one_language_the_second_save_is_refused(app: Starlette) -> None:
    site, _ = await published_site()
    a, b = await actor(), await actor()
    subject = revisions.texts(site, "sv")
    read = await revisions.stamp(subject)  # both tabs opened the page here
    assert read == 0
    await drafts.edit_texts(site, "sv", {"title": "B:s rubrik"}, by=b, version=read)
    with pytest.raises(StaleEdit) as refused:
        await drafts.edit_texts(site, "sv", {"title": "Ditt val om kakor",
                                             "description": "A:s text"}, by=a, version=read)
    assert refused.value.keys == (subject.key,)
    stored = await Site.get(id=site.id)
    assert stored.texts["sv"]["title"] == "B:s rubrik"  # not undone
    assert stored.texts["sv"]["description"] != "A:s text"  # nothing of the refused save
    assert not await AuditEntry.filter(actor=a.email, action="banner.texts").exists()
    # What A has not seen, from the audit log: B's change, who and what.
    meanwhile = await revisions.since(subject, read)
    assert [(e.actor, e.after) for e in meanwhile] == [
        (b.email, {"language": "sv", "texts": {"title": "B:s rubrik"}})]
    # Saving again over the version now, knowingly, goes through.
    now = await revisions.stamp(subject)
    assert now == meanwhile[-1].id
    await drafts.edit_texts(site, "sv", {"title": "A:s rubrik"}, by=a, version=now)
    assert (await Site.get(id=site.id)).texts["sv"]["title"] == "A:s rubrik"
    assert await revisions.stamp(subject) > now


async def test_each_language_has_its_own_version(app: Starlette) -> None:
    site, _ = await published_site()
    sv, en = revisions.texts(site, "sv"), revisions.texts(site, "en")
    read_sv, read_en = await revisions.stamp(sv), await revisions.stamp(en)
    await drafts.edit_texts(site, "en", {"title": "New"}, version=read_en)
    await drafts.edit_texts(site, "sv", {"title": "Ny"}, version=read_sv)  # not refused
    assert [e.after["language"] for e in await revisions.since(en, 0)] == ["en"]  # type: ignore[index]
    assert [e.after["language"] for e in await revisions.since(sv, 0)] == ["sv"]  # type: ignore[index]


async def test_a_save_that_changes_nothing_is_not_refused_and_moves_nothing(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    subject = revisions.texts(site, "sv")
    await drafts.edit_texts(site, "sv", {"title": "Ny"}, version=0)
    now = await revisions.stamp(subject)
    # An old tab sends what is stored now: nothing would be lost, nothing is written.
    assert await drafts.edit_texts(site, "sv", {"title": "Ny"}, version=0) == {}
    assert await revisions.stamp(subject) == now


async def test_a_save_without_a_version_still_moves_it(app: Starlette) -> None:
    """The command line and the demo give no version; a form read before them is refused."""
    site, _ = await published_site()
    subject = revisions.settings(site)
    read = await revisions.stamp(subject)
    await sites.update_site(site, name="Renamed")  # unchecked
    with pytest.raises(StaleEdit):
        await sites.update_site(await Site.get(id=site.id), name="Mine", version=read)
    assert (await Site.get(id=site.id)).name == "Renamed"


async def test_the_retention_page_and_the_settings_page_share_a_version(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    by = await actor()
    read = await revisions.stamp(revisions.settings(site))
    await retention.set_retention(site, 400, by=by, version=read)
    with pytest.raises(StaleEdit):
        await sites.update_site(await Site.get(id=site.id), receipt_retention_days=1095,
                                name="Shop", version=read)
    with pytest.raises(StaleEdit):
        await retention.set_retention(await Site.get(id=site.id), 500, by=by, version=read)
    assert (await Site.get(id=site.id)).receipt_retention_days == 400


async def test_a_purpose_edit_over_a_newer_version_is_refused(app: Starlette) -> None:
    site, _ = await published_site()
    subject = revisions.purpose(site, "statistics")
    read = await revisions.stamp(subject)
    await drafts.edit_purpose(site, "statistics", name={"sv": "Statistik B"}, version=read)
    with pytest.raises(StaleEdit):
        await drafts.edit_purpose(site, "statistics", name={"sv": "Statistik A"},
                                  description={"sv": "A"}, version=read)
    stored = await Purpose.get(site=site, key="statistics")
    assert stored.name["sv"] == "Statistik B"
    # Another site's purpose of the same key is another thing.
    other, _ = await published_site("Other", ("other.example",))
    assert await revisions.since(revisions.purpose(other, "statistics"), 0) == []


async def test_an_item_edit_over_a_newer_version_is_refused(app: Starlette) -> None:
    site, _ = await published_site()
    ga = await InventoryItem.get(site=site, name="_ga")
    subject = revisions.item(site, ga.id)
    read = await revisions.stamp(subject)
    base = {"name": "_ga", "purpose": "statistics", "vendor": "google", "duration_days": 400}
    await items.update_item(site, ga.id, ItemChange(**{**base, "purpose": "marketing"}),
                            version=read)
    with pytest.raises(StaleEdit):
        await items.update_item(site, ga.id, ItemChange(**{**base, "duration_days": 30}),
                                version=read)
    stored = await InventoryItem.get(id=ga.id).select_related("purpose")
    assert stored.purpose is not None and stored.purpose.key == "marketing"
    assert stored.duration_days == 400


async def test_a_bulk_action_over_a_row_changed_meanwhile_is_refused_whole(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    rows = await InventoryItem.filter(site=site).order_by("id")
    read = await revisions.stamps(revisions.item(site, r.id) for r in rows)
    versions = {r.id: read[revisions.item(site, r.id).key] for r in rows}
    changed = rows[1]
    await items.bulk_update(site, [changed.id], "set_vendor", vendor=None)  # another tab
    with pytest.raises(StaleEdit) as refused:
        await items.bulk_update(site, [r.id for r in rows], "mark_gone", versions=versions)
    assert refused.value.keys == (revisions.item(site, changed.id).key,)
    assert not await InventoryItem.filter(site=site, review_status="gone").exists()
    # Over the versions now: every row, knowingly.
    now = await revisions.stamps(revisions.item(site, r.id) for r in rows)
    fresh = {r.id: now[revisions.item(site, r.id).key] for r in rows}
    assert await items.bulk_update(site, [r.id for r in rows], "mark_gone",
                                   versions=fresh) == len(rows)
    # A bulk action moves each row's version: a tab open on one item is refused.
    with pytest.raises(StaleEdit):
        await items.update_item(site, changed.id, ItemChange(name=changed.name),
                                version=fresh[changed.id])


async def test_a_vendor_edit_over_a_newer_version_is_refused(app: Starlette) -> None:
    site, _ = await published_site()
    google = await Vendor.get(site=site, key="google")
    read = await revisions.stamp(revisions.vendor(site, google.id))
    change = {"name": "Google", "country": "US", "transfers_outside_eea": True}
    await vendors.update_vendor(site, google.id, VendorChange(**{**change, "country": "IE"}),
                                version=read)
    with pytest.raises(StaleEdit):
        await vendors.update_vendor(site, google.id,
                                    VendorChange(**{**change, "name": "Alphabet"}), version=read)
    stored = await Vendor.get(id=google.id)
    assert (stored.name, stored.country) == ("Google", "IE")


async def test_a_role_or_active_change_over_a_newer_version_is_refused(
    app: Starlette,
) -> None:
    owner, other = await actor("owner"), await actor("owner")
    target = await staff_member("viewer")
    subject = revisions.staff(target.id)
    read = await revisions.stamp(subject)
    await staff_lifecycle.set_role(target.id, "privacy", by=other, version=read)
    with pytest.raises(StaleEdit):
        await staff_lifecycle.set_role(target.id, "owner", by=owner, version=read)
    with pytest.raises(StaleEdit):
        await staff_lifecycle.set_active(target.id, False, by=owner, version=read)
    stored = await Staff.get(id=target.id)
    assert (stored.role, stored.active) == ("privacy", True)
    assert [e.action for e in await revisions.since(subject, read)] == ["staff.role"]


async def test_two_saves_from_one_version_at_once_one_wins(app: Starlette) -> None:
    """The compare-and-set is the UPDATE itself: a second transaction from the same version
    waits for the first (PostgreSQL's row lock, SQLite's one writer) and then finds the
    stamp moved, whatever it read before."""
    site, _ = await published_site()
    subject = revisions.texts(site, "sv")
    read = await revisions.stamp(subject)
    first_done_writing = asyncio.Event()
    commit_first = asyncio.Event()

    async def save(release: asyncio.Event | None) -> int:
        async with in_transaction():
            entry = await audit.record(None, "banner.texts", "site", site.key, site=site,
                                       after={"language": "sv"})
            await revisions.advance(subject, entry, read)
            if release is not None:
                first_done_writing.set()
                await release.wait()
            return entry.id

    first = asyncio.create_task(save(commit_first))
    await first_done_writing.wait()
    second = asyncio.create_task(save(None))
    await asyncio.sleep(0.2)  # the second reaches its UPDATE while the first is open
    commit_first.set()
    won = await first
    with pytest.raises(StaleEdit):
        await second
    assert await revisions.stamp(subject) == won
    assert await AuditEntry.filter(action="banner.texts").count() == 1

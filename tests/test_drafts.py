"""Editing the draft, the publish summary, the lint and the version diff
(``services/drafts.py``, ``services/changes.py``, ``services/lint.py``, ``publishing.publish``)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from cmp_server.errors import Conflict, InvalidRequest, NotFound, VersionNotFound
from cmp_server.models import AuditEntry, ConfigVersion, InventoryItem, Site
from cmp_server.services import changes, drafts, inventory, lint, publishing, sites
from cmp_server.services.staff import Actor

from .factories import published_site, staff_member


async def actor(role: str = "privacy") -> Actor:
    member = await staff_member(role)
    return Actor(member.id, member.email, member.name, member.role, "session", "csrf")


async def test_a_text_edit_is_saved_and_audited_with_before_and_after(app: Starlette) -> None:
    site, _ = await published_site()
    by = await actor()
    before = await AuditEntry.all().count()
    changed = await drafts.edit_texts(
        site, "sv", {"title": "  Kakor hos oss  ", "accept_all": "Godkänn alla"}, by=by
    )
    # Only what changed (accept_all was the same already), trimmed.
    assert changed == {"title": ("Ditt val om kakor", "Kakor hos oss")}
    stored = await Site.get(id=site.id)
    assert stored.texts["sv"]["title"] == "Kakor hos oss"
    assert stored.texts["en"]["title"] == "Your choice about cookies"  # other languages stay
    entry = await AuditEntry.get(action="banner.texts")
    assert entry.actor == by.email and entry.staff_id == by.id  # type: ignore[attr-defined]
    assert entry.before == {"language": "sv", "texts": {"title": "Ditt val om kakor"}}
    assert entry.after == {"language": "sv", "texts": {"title": "Kakor hos oss"}}
    # Whatever else the edit wrote to the log is the same staff member's.
    written = await AuditEntry.all().order_by("id").offset(before).values_list("actor", flat=True)
    assert set(written) == {by.email}
    # The same again changes nothing and writes nothing.
    assert await drafts.edit_texts(site, "sv", {"title": "Kakor hos oss"}, by=by) == {}
    assert await AuditEntry.filter(action="banner.texts").count() == 1


@pytest.mark.parametrize(
    ("language", "texts", "message"),
    [
        ("fi", {"title": "Evästeet"}, "not one of the site's languages"),
        ("sv", {"headline": "x"}, "no text 'headline'"),
        ("sv", {"title": "nul\x00here"}, "control characters"),
        ("sv", {"title": "\ud800"}, "control characters"),
        ("sv", {"title": "x" * (drafts.MAX_TEXT + 1)}, "at most"),
    ],
)
async def test_bad_texts_are_refused_and_nothing_is_written(
    app: Starlette, language: str, texts: dict[str, str], message: str
) -> None:
    site, _ = await published_site()
    with pytest.raises(InvalidRequest, match=message):
        await drafts.edit_texts(site, language, texts)
    assert (await Site.get(id=site.id)).texts == site.texts
    assert not await AuditEntry.filter(action="banner.texts").exists()


async def test_purposes_are_added_edited_reordered_and_removed_with_audit(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    by = await actor()
    added = await drafts.add_purpose(
        site, "video", name={"en": "Video", "sv": "Video"},
        description={"en": "Embedded videos."}, by=by,
    )
    assert added.key == "video" and not added.required and added.order == 4
    with pytest.raises(Conflict):
        await drafts.add_purpose(site, "video", name={"en": "Again"})
    with pytest.raises(InvalidRequest, match="needs a name"):
        await drafts.add_purpose(site, "empty", name={"en": "  "})
    with pytest.raises(InvalidRequest):
        await drafts.add_purpose(site, "Bad Key", name={"en": "x"})

    edited = await drafts.edit_purpose(site, "video", description={"sv": "Inbäddade filmer."},
                                       by=by)
    assert edited.description == {"en": "Embedded videos.", "sv": "Inbäddade filmer."}
    entry = await AuditEntry.get(action="purpose.edit")
    assert entry.before == {"description": {"en": "Embedded videos."}}
    assert entry.after == {"description": {"en": "Embedded videos.", "sv": "Inbäddade filmer."}}

    assert await drafts.move_purpose(site, "video", -1, by=by) == [
        "necessary", "preferences", "statistics", "video", "marketing",
    ]
    assert await drafts.move_purpose(site, "necessary", -1) == [  # already first: stays
        "necessary", "preferences", "statistics", "video", "marketing",
    ]
    order = ["video", "necessary", "preferences", "statistics", "marketing"]
    assert await drafts.reorder_purposes(site, order, by=by) == order
    assert [p.key for p in await drafts.draft_purposes(site)] == order
    with pytest.raises(InvalidRequest, match="every purpose once"):
        await drafts.reorder_purposes(site, ["video", "necessary"])
    reorders = await AuditEntry.filter(action="purpose.reorder").order_by("id")
    assert len(reorders) == 2 and reorders[1].after == {"order": order}

    await drafts.remove_purpose(site, "video", by=by)
    assert "video" not in [p.key for p in await drafts.draft_purposes(site)]
    removal = await AuditEntry.get(action="purpose.remove")
    assert removal.before is not None and removal.before["key"] == "video"
    assert removal.actor == by.email


async def test_required_purposes_and_purposes_the_options_name_stay(app: Starlette) -> None:
    site, _ = await published_site()
    with pytest.raises(InvalidRequest, match="required purposes cannot be removed"):
        await drafts.remove_purpose(site, "necessary")
    # Consent Mode's ad_storage needs marketing; dropping it would leave the list empty,
    # which grants the signal always.
    with pytest.raises(InvalidRequest, match="Consent Mode ad_storage"):
        await drafts.remove_purpose(site, "marketing")
    with pytest.raises(NotFound):
        await drafts.remove_purpose(site, "nothing")
    keys = [p.key for p in await drafts.draft_purposes(site)]
    assert keys == ["necessary", "preferences", "statistics", "marketing"]
    assert not await AuditEntry.filter(action="purpose.remove").exists()


async def test_removing_a_purpose_leaves_its_cookies_unclassified(app: Starlette) -> None:
    site, _ = await published_site()
    await drafts.add_purpose(site, "video", name={"en": "Video"})
    item = await inventory.add_item(site, name="yt_pref", purpose="video")
    before = next(p for p in await drafts.draft_purposes(site) if p.key == "video")
    assert before.items == 1 and before.removable
    await drafts.remove_purpose(site, "video")
    assert (await InventoryItem.get(id=item.id)).purpose_id is None  # type: ignore[attr-defined]
    removal = await AuditEntry.get(action="purpose.remove")
    assert removal.before is not None and removal.before["items"] == 1


async def test_an_unchanged_draft_says_so_and_cannot_be_published(app: Starlette) -> None:
    site, v1 = await published_site()
    summary = await changes.publish_summary(site)
    assert summary.unchanged and summary.published == 1 and summary.number == 2
    assert summary.changes.count == 0 and not summary.material and not summary.can_publish
    with pytest.raises(Conflict, match="nothing to publish"):
        await changes.publish_draft(site)
    assert await ConfigVersion.filter(site=site).count() == 1
    # An edit and its undo: the draft is the published version again.
    await drafts.edit_texts(site, "en", {"title": "Cookies?"})
    assert not (await changes.publish_summary(site)).unchanged
    await drafts.edit_texts(site, "en", {"title": "Your choice about cookies"})
    assert (await changes.publish_summary(site)).unchanged


async def test_the_summary_lists_texts_purposes_vendors_and_cookies(app: Starlette) -> None:
    site, _ = await published_site()
    await drafts.edit_texts(site, "sv", {"title": "Kakor hos oss"})
    summary = await changes.publish_summary(site)
    assert [(t.language, t.key, t.before, t.after) for t in summary.changes.texts] == [
        ("sv", "title", "Ditt val om kakor", "Kakor hos oss"),
    ]
    assert not summary.material  # a reworded text asks no one again
    assert summary.can_publish

    await drafts.edit_purpose(site, "statistics", name={"sv": "Besöksstatistik"})
    await drafts.add_purpose(site, "video", name={"en": "Video", "sv": "Video", "da": "Video"},
                             description={"en": "Videos.", "sv": "Filmer.", "da": "Film."})
    await inventory.add_vendor(site, key="hotjar", name="Hotjar", country="MT")
    await inventory.add_vendor(
        site, key="google", name="Google LLC", country="US",
        privacy_policy_url="https://policies.google.com/privacy", transfers_outside_eea=True,
        transfer_basis="EU-US Data Privacy Framework",
    )
    await inventory.add_item(site, name="_hjid", purpose="statistics", vendor="hotjar",
                             duration_days=365)
    await inventory.add_item(site, name="_ga", purpose="statistics", vendor="google",
                             duration_days=730,
                             description={"en": "Distinguishes visitors for statistics."})
    summary = await changes.publish_summary(site)
    purposes = {c.key: c for c in summary.changes.purposes}
    assert purposes["video"].kind == "added"
    assert purposes["statistics"].kind == "changed"
    assert ("name.sv", "Statistik", "Besöksstatistik") in [
        (f.field, f.before, f.after) for f in purposes["statistics"].fields
    ]
    vendors = {c.key: c for c in summary.changes.vendors}
    assert vendors["hotjar"].kind == "added"
    assert [(f.field, f.before, f.after) for f in vendors["google"].fields] == [
        ("name", "Google", "Google LLC"),
    ]
    cookies = {c.label: c for c in summary.changes.cookies}
    assert cookies["_hjid"].kind == "added"
    assert [(f.field, f.before, f.after) for f in cookies["_ga"].fields] == [
        ("duration_days", "400", "730"),
    ]
    assert summary.material  # a purpose and a vendor more: visitors choose again

    await sites.remove_purpose(site, "preferences")
    summary = await changes.publish_summary(site)
    assert {c.key: c.kind for c in summary.changes.purposes}["preferences"] == "removed"


async def test_a_removed_cookie_and_vendor_are_listed(app: Starlette) -> None:
    site, _ = await published_site()
    await InventoryItem.filter(site=site, name="_ga_").delete()
    summary = await changes.publish_summary(site)
    assert [(c.kind, c.label) for c in summary.changes.cookies] == [("removed", "_ga_*")]
    assert not summary.material  # vendors and purposes are the same


async def test_publish_creates_the_version_audited_and_the_summary_moves_on(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    by = await actor()
    await drafts.edit_texts(site, "sv", {"title": "Kakor hos oss"})
    summary = await changes.publish_summary(site)
    version = await changes.publish_draft(site, by=by, expected=summary.fingerprint)
    assert version.number == 2 and version.published_by == by.email
    config = publishing.parse_config(version)
    assert config.texts["sv"]["title"] == "Kakor hos oss"
    entry = await AuditEntry.get(action="config.publish", object_id="2")
    assert entry.actor == by.email and entry.site_id == site.id  # type: ignore[attr-defined]
    assert entry.after is not None and entry.after["material"] is False
    after = await changes.publish_summary(site)
    assert after.unchanged and after.published == 2


async def test_a_draft_edited_after_its_summary_is_not_published_unseen(app: Starlette) -> None:
    site, _ = await published_site()
    await drafts.edit_texts(site, "en", {"title": "One"})
    seen = await changes.publish_summary(site)
    await drafts.edit_texts(site, "en", {"title": "Two"})
    with pytest.raises(Conflict, match="changed since"):
        await changes.publish_draft(site, expected=seen.fingerprint)
    with pytest.raises(Conflict, match="changed since"):
        await publishing.publish(site, expected=seen.fingerprint)
    assert await ConfigVersion.filter(site=site).count() == 1
    assert await AuditEntry.filter(action="config.publish").count() == 1  # version 1's


async def test_publishing_refuses_lint_errors_with_the_reason(app: Starlette) -> None:
    site, _ = await published_site()
    await drafts.edit_texts(site, "da", {"reject_all": "Accepter alle"})
    with pytest.raises(InvalidRequest, match="Accept all and Reject all read the same"):
        await changes.publish_draft(site)
    assert await ConfigVersion.filter(site=site).count() == 1


def codes(findings: list[lint.Finding]) -> list[tuple[str, str, str | None]]:
    return [(f.level, f.code, f.language) for f in findings]


async def test_lint_of_a_fresh_site_finds_nothing(app: Starlette) -> None:
    site, _ = await published_site()
    # The factory's items: _ga described by hand in English only, _ga_ and cmp_consent not
    # described at all. Each gap is a warning naming the item and the language, nothing more.
    findings = await lint.lint(site)
    assert {f.code for f in findings} == {"untranslated_cookie"}
    assert sorted(f.message for f in findings if f.language == "da") == [
        "da: the cookie _ga has no Danish description: visitors reading Danish see its row "
        "without one",
        "da: the cookie _ga_* has no Danish description: visitors reading Danish see its row "
        "without one",
        "da: the cookie cmp_consent has no Danish description: visitors reading Danish see its "
        "row without one",
    ]
    assert [f.language for f in findings].count("en") == 2  # _ga has its English one
    texts = {"en": "Distinguishes visitors for statistics.",
             "sv": "Skiljer besökare åt för statistiken.",
             "da": "Skelner mellem besøgende til statistikken."}
    for name, match in (("_ga", "exact"), ("_ga_", "prefix"), ("cmp_consent", "exact")):
        await inventory.add_item(site, name=name, match=match, purpose="statistics",
                                 description=texts)
    assert await lint.lint(site) == []


async def test_lint_a_language_without_a_text(app: Starlette) -> None:
    site = await sites.create_site("Fi", ["fi.example"], languages=("en", "fi"))
    findings = await lint.lint(site)
    # Finnish has no built-in texts: the site starts with English copies, which is a warning.
    assert ("warning", "untranslated", "fi") in codes(findings)
    assert not [f for f in findings if f.is_error]
    await drafts.edit_texts(site, "fi", {"title": "", "customize": ""})
    findings = await lint.lint(site)
    missing = [f for f in findings if f.code == "missing_text"]
    assert len(missing) == 1 and missing[0].is_error and missing[0].language == "fi"
    assert "title" in missing[0].message and "customize" in missing[0].message


async def test_lint_a_purpose_without_a_name_or_description(app: Starlette) -> None:
    site, _ = await published_site()
    await drafts.add_purpose(site, "video", name={"en": "Video"})
    found = codes(await lint.lint(site))
    # Nothing uses it yet: no description is a warning; no Swedish name an error.
    assert ("error", "missing_text", "sv") in found
    assert ("warning", "purpose_without_description", "sv") in found
    await drafts.edit_purpose(site, "video", name={"sv": "Video", "da": "Video"})
    await inventory.add_item(site, name="yt", purpose="video")
    findings = await lint.lint(site)
    used = [f for f in findings if f.code == "purpose_without_description"]
    assert {f.language for f in used} == {"en", "sv", "da"}
    assert all(f.is_error for f in used) and "1 inventory item uses it" in used[0].message


async def test_lint_accept_and_reject_both_on_the_first_layer(app: Starlette) -> None:
    site, _ = await published_site()
    # A blank label stored some other way than the editor (which trims): no words on a button.
    await sites.update_site(site, texts={"en": {"reject_all": "   "}})
    findings = [f for f in await lint.lint(site) if f.code == "first_layer"]
    assert [(f.level, f.language) for f in findings] == [("error", "en")]
    assert "reject_all has no words" in findings[0].message
    await drafts.edit_texts(site, "en", {"reject_all": "ACCEPT ALL"})
    findings = [f for f in await lint.lint(site) if f.code == "first_layer"]
    assert len(findings) == 1 and "read the same" in findings[0].message
    await drafts.edit_texts(site, "en", {"reject_all": ""})  # back to the built-in words
    assert not [f for f in await lint.lint(site) if f.code == "first_layer"]


async def test_lint_warns_of_unreviewed_and_unmapped_items(app: Starlette) -> None:
    site, _ = await published_site()
    await inventory.add_item(site, name="_new", purpose="statistics", review_status="unreviewed")
    await inventory.add_item(site, name="mystery", review_status="unreviewed")
    findings = [f for f in await lint.lint(site) if f.code == "unreviewed"]
    assert [f.level for f in findings] == ["warning", "warning"]
    assert "2 inventory items are not reviewed" in findings[0].message
    assert "1 inventory item has no purpose" in findings[1].message
    summary = await changes.publish_summary(site)
    assert summary.can_publish and summary.warnings and not summary.errors


async def test_version_history_and_the_diff_between_two_versions(app: Starlette) -> None:
    site, _ = await published_site()
    by = await actor()
    await drafts.edit_texts(site, "sv", {"title": "Kakor <b>hos</b> oss"})
    await changes.publish_draft(site, by=by)
    await drafts.add_purpose(site, "video", name={"en": "Video", "sv": "Video", "da": "Video"},
                             description={"en": "V.", "sv": "V.", "da": "V."})
    await changes.publish_draft(site, by=by)
    history = await changes.list_versions(site)
    assert [(v.number, v.material, v.published_by) for v in history] == [
        (3, True, by.email), (2, False, by.email), (1, True, None),
    ]
    diff = await changes.version_diff(site, 1, 3)
    assert [(t.language, t.key) for t in diff.changes.texts] == [("sv", "title")]
    assert [(c.kind, c.key) for c in diff.changes.purposes] == [("added", "video")]
    assert diff.changes.material
    assert diff.lines[0] == changes.DiffLine("file", "--- version 1")
    assert changes.DiffLine("del", '-      "title": "Ditt val om kakor",') in diff.lines
    assert changes.DiffLine("add", '+      "title": "Kakor <b>hos</b> oss",') in diff.lines
    # Version numbers and times are left out of the lines: only what differs shows.
    assert not [line for line in diff.lines if "published_at" in line.text]
    same = await changes.version_diff(site, 2, 2)
    assert same.changes.unchanged and same.lines == ()
    with pytest.raises(VersionNotFound):
        await changes.version_diff(site, 1, 9)


async def test_the_preview_is_the_real_embed_with_the_draft_marked_preview(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    await drafts.edit_texts(site, "sv", {"title": "</script><b>Kakor</b>"})
    script = await drafts.preview_script(site)
    published = publishing.parse_config(await ConfigVersion.get(site=site, number=1))
    assert b'"preview":true' in script and b'"version":2' in script
    # The inlined draft is escaped as the public route's is: no tag can end the script.
    assert b"</script>" not in script and b"\\u003c/script\\u003e\\u003cb\\u003eKakor" in script
    assert "preview" not in published

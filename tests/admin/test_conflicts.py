"""No lost update through the admin's forms (``admin/_conflicts.py``): two tabs are two
signed-in clients that read a form, as a browser does, and post it back. The second save
from an old version is refused (409) with who changed what meanwhile, saved now beside
typed, the form still holding what was typed; saving that form again goes through."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest
from markupsafe import escape
from starlette.applications import Starlette

from cmp_server.models import (
    AuditEntry,
    BlockingRule,
    InventoryItem,
    Purpose,
    Site,
    Staff,
    Vendor,
)
from cmp_server.services import inventory

from ..factories import published_site, staff_member
from ._client import sign_in

PAYLOAD = '<img src=x onerror="window.pwned=1">'


class _Form(HTMLParser):
    """The fields a browser would send for the form with ``id`` (its own submit aside)."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.found = form_id, False, False
        self.fields: list[tuple[str, str]] = []
        self._text: tuple[str, list[str]] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
            self.found |= self.inside
        if not self.inside or "disabled" in a:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button"):
                self.fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "textarea" and a.get("name"):
            self._text = (a["name"], [])
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._text is not None:
            self.fields.append((self._text[0], "".join(self._text[1]).removeprefix("\n")))
            self._text = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self.inside = False


def form_of(page: str, form_id: str, **changes: str) -> dict[str, str]:
    parser = _Form(form_id)
    parser.feed(page)
    assert parser.found, f"no form {form_id}"
    fields = dict(parser.fields)
    return {**fields, **changes}


def multi(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Fields as httpx sends a name given more than once (the ticked rows)."""
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return data


def version_in(page: str, form_id: str) -> int:
    return int(form_of(page, form_id)["version"])


@pytest.fixture
async def other(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser: the other tab, signed in as someone else."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.78", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def two_tabs(a: httpx.AsyncClient, b: httpx.AsyncClient, role: str) -> tuple[str, str]:
    first, second = await staff_member(role), await staff_member(role)
    await sign_in(a, first.email)
    await sign_in(b, second.email)
    return first.email, second.email


def shown(page: str) -> str:
    """The page's text as read: tags gone, characters real, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


async def test_texts_two_tabs_the_title_is_not_lost(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    a_email, b_email = await two_tabs(client, other, "privacy")
    path = f"/admin/sites/{site.key}/banner"
    tab_a = (await client.get(path, params={"lang": "sv"})).text
    tab_b = (await other.get(path, params={"lang": "sv"})).text
    saved = await other.post(path, data=form_of(tab_b, "form-texts",
                                                **{"text-title": f"B:s rubrik {PAYLOAD}"}))
    assert saved.status_code == 303
    refused = await client.post(path, data=form_of(tab_a, "form-texts",
                                                   **{"text-description": "A:s beskrivning"}))
    assert refused.status_code == 409
    assert (await Site.get(id=site.id)).texts["sv"]["title"] == f"B:s rubrik {PAYLOAD}"
    page = refused.text
    assert "someone changed the sv texts while you were editing" in page
    assert PAYLOAD not in page and str(escape(PAYLOAD)) in page  # escaped, not markup
    text = shown(page)
    assert b_email in text and "banner.texts" in text
    assert f"texts.title: Ditt val om kakor → B:s rubrik {PAYLOAD}" in text
    assert "Title (title)" in text and "changed meanwhile" in text
    # What A typed is kept in the form, with the version now.
    again = form_of(page, "form-texts")
    assert again["text-description"] == "A:s beskrivning"
    assert again["text-title"] == "Ditt val om kakor"
    assert int(again["version"]) > version_in(tab_a, "form-texts")
    assert 'href="/admin/sites/' in page and "Take theirs" in page
    # Take theirs: the page afresh shows B's title.
    fresh = (await client.get(path, params={"lang": "sv"})).text
    assert form_of(fresh, "form-texts")["text-title"] == f"B:s rubrik {PAYLOAD}"
    # Keep mine: the same form again saves over B's, knowingly.
    kept = await client.post(path, data=again)
    assert kept.status_code == 303
    stored = (await Site.get(id=site.id)).texts["sv"]
    assert (stored["title"], stored["description"]) == ("Ditt val om kakor", "A:s beskrivning")
    assert await AuditEntry.filter(actor=a_email, action="banner.texts").count() == 1


async def test_texts_of_another_language_do_not_conflict(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await two_tabs(client, other, "privacy")
    path = f"/admin/sites/{site.key}/banner"
    tab_sv = (await client.get(path, params={"lang": "sv"})).text
    tab_en = (await other.get(path, params={"lang": "en"})).text
    assert (await other.post(path, data=form_of(tab_en, "form-texts",
                                                **{"text-title": "New"}))).status_code == 303
    assert (await client.post(path, data=form_of(tab_sv, "form-texts",
                                                 **{"text-title": "Ny"}))).status_code == 303


async def test_a_purpose_two_tabs(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    _, b_email = await two_tabs(client, other, "privacy")
    path = f"/admin/sites/{site.key}/banner"
    tab_a = (await client.get(path, params={"lang": "sv"})).text
    tab_b = (await other.get(path, params={"lang": "sv"})).text
    action = f"{path}/purposes/statistics"
    assert (await other.post(action, data=form_of(tab_b, "form-purpose-statistics",
                                                  name="Statistik (B)"))).status_code == 303
    refused = await client.post(action, data=form_of(tab_a, "form-purpose-statistics",
                                                     description="A:s text"))
    assert refused.status_code == 409
    text = shown(refused.text)
    assert "someone changed the purpose statistics" in text and b_email in text
    assert "Saved now: Statistik (B)" in text
    again = form_of(refused.text, "form-purpose-statistics")
    assert again["description"] == "A:s text"
    assert (await client.post(action, data=again)).status_code == 303
    stored = await Purpose.get(site=site, key="statistics")
    assert stored.description["sv"] == "A:s text"


async def test_removing_a_purpose_changed_meanwhile_is_refused(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    _, b_email = await two_tabs(client, other, "privacy")
    path = f"/admin/sites/{site.key}/banner"
    await client.post(f"{path}/purposes", data={
        **form_of((await client.get(path, params={"lang": "sv"})).text, "form-add"),
        "key": "ads", "name": "Annonser", "description": ""})
    tab_a = (await client.get(path, params={"lang": "sv"})).text
    tab_b = (await other.get(path, params={"lang": "sv"})).text
    assert (await other.post(f"{path}/purposes/ads", data=form_of(
        tab_b, "form-purpose-ads", description="B förklarar"))).status_code == 303
    refused = await client.post(f"{path}/purposes/ads/remove",
                                data=form_of(tab_a, "form-remove-ads"))
    assert refused.status_code == 409
    assert await Purpose.exists(site=site, key="ads")  # not removed unseen
    text = shown(refused.text)
    assert "someone changed the purpose ads" in text and b_email in text
    assert "B förklarar" in text and "Remove it anyway" in text
    again = form_of(refused.text, "form-remove-ads")
    assert int(again["version"]) > version_in(tab_a, "form-remove-ads")
    assert (await client.post(f"{path}/purposes/ads/remove", data=again)).status_code == 303
    assert not await Purpose.exists(site=site, key="ads")
    # A purpose removed and added again under its key: the edit of the old one is refused.
    await client.post(f"{path}/purposes", data={
        **form_of((await client.get(path, params={"lang": "sv"})).text, "form-add"),
        "key": "ads", "name": "Reklam", "description": ""})
    refused = await other.post(f"{path}/purposes/ads", data=form_of(
        tab_b, "form-purpose-ads", description="B igen"))
    assert refused.status_code == 409
    assert (await Purpose.get(site=site, key="ads")).description.get("sv", "") == ""


async def test_the_appearance_two_tabs(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    _, b_email = await two_tabs(client, other, "privacy")
    path = f"/admin/sites/{site.key}/appearance"
    tab_a, tab_b = (await client.get(path)).text, (await other.get(path)).text
    assert (await other.post(path, data=form_of(tab_b, "form-look", layout="dialog",
                                                color_primary="#7a1f5c"))).status_code == 303
    refused = await client.post(path, data=form_of(tab_a, "form-look", radius="12"))
    assert refused.status_code == 409
    text = shown(refused.text)
    assert "someone changed the banner's appearance" in text and b_email in text
    assert "banner.appearance" in text and "layout: " in text
    assert "Layout changed meanwhile Saved now: dialog Yours: corner" in text
    assert "Corner radius Saved now: 8 Yours: 12" in text
    assert "Colour: Primary button changed meanwhile Saved now: #7a1f5c" in text
    look = (await Site.get(id=site.id)).appearance or {}
    assert (look["layout"], look["radius"]) == ("dialog", 8)  # B's, not overwritten
    again = form_of(refused.text, "form-look")
    assert again["radius"] == "12" and int(again["version"]) > version_in(tab_a, "form-look")
    # Take theirs for the layout and colour, keep my radius.
    kept = await client.post(path, data={**again, "layout": "dialog",
                                         "color_primary": "#7a1f5c"})
    assert kept.status_code == 303
    look = (await Site.get(id=site.id)).appearance or {}
    assert (look["layout"], look["radius"], look["colors"]["primary"]) == (
        "dialog", 12, "#7a1f5c")
    # A logo uploaded meanwhile moves no version of the look: the form saves.
    tab_a = (await client.get(path)).text
    assert (await other.post(f"{path}/logo/remove", data=form_of(
        tab_b, "form-look"))).status_code == 303
    assert (await client.post(path, data=form_of(tab_a, "form-look", font="inherit"))
            ).status_code == 303


async def test_blocking_rules_and_mode_two_tabs(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    _, b_email = await two_tabs(client, other, "owner")  # the owner changes site settings
    path = f"/admin/sites/{site.key}/blocking"
    target = "widgets.example.net"
    await client.post(f"{path}/rules", data={
        **form_of((await client.get(path)).text, "form-rule"),
        "target": target, "purposes": "statistics"})
    tab_a, tab_b = (await client.get(path)).text, (await other.get(path)).text
    # B changes the rule to wait for marketing; A, from the old page, turns it off.
    assert (await other.post(f"{path}/rules", data={
        **form_of(tab_b, "form-rule"), "target": target, "purposes": "marketing"})
    ).status_code == 303
    refused = await client.post(f"{path}/toggle", data=form_of(tab_a, f"form-toggle-{target}"))
    assert refused.status_code == 409
    rule = await BlockingRule.get(site=site, host="widgets.example.net", path="")
    assert (rule.purposes, rule.enabled) == (["marketing"], True)  # B's, and still on
    text = shown(refused.text)
    assert "someone changed the blocking rules" in text and b_email in text
    assert "purposes: statistics → marketing" in text and "Do it anyway" in text
    again = form_of(refused.text, f"form-toggle-{target}")
    assert int(again["version"]) > version_in(tab_a, f"form-toggle-{target}")
    assert (await client.post(f"{path}/toggle", data=again)).status_code == 303
    assert not (await BlockingRule.get(id=rule.id)).enabled
    # Removing it and adding a rule from the old page: refused the same way.
    for action, form in (("remove", form_of(tab_a, f"form-remove-{target}")),
                         ("rules", {**form_of(tab_a, "form-rule"), "target": "cdn.example.org",
                                    "purposes": "marketing"})):
        refused = await client.post(f"{path}/{action}", data=form)
        assert refused.status_code == 409, action
    assert await BlockingRule.filter(site=site).count() == 1
    assert form_of(refused.text, "form-rule")["target"] == "cdn.example.org"  # what A typed
    # The mode carries the site settings' version: B's settings change refuses A's mode.
    tab_a = (await client.get(path)).text
    settings = f"/admin/sites/{site.key}"
    assert (await other.post(settings, data=form_of((await other.get(settings)).text,
                                                    "form-site", name="B:s namn"))
            ).status_code == 303
    refused = await client.post(f"{path}/mode", data={**form_of(tab_a, "form-mode"),
                                                      "mode": "report"})
    assert refused.status_code == 409
    assert "name: Shop → B:s namn" in shown(refused.text)
    assert (await Site.get(id=site.id)).options.get("auto_blocking", "enforce") == "enforce"
    again = form_of(refused.text, "form-mode")
    assert again["mode"] == "report"
    assert (await client.post(f"{path}/mode", data=again)).status_code == 303
    assert (await Site.get(id=site.id)).options["auto_blocking"] == "report"


async def test_an_item_two_tabs(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    _, b_email = await two_tabs(client, other, "privacy")
    ga = await InventoryItem.get(site=site, name="_ga")
    path = f"/admin/sites/{site.key}/inventory/{ga.id}"
    tab_a, tab_b = (await client.get(path)).text, (await other.get(path)).text
    assert (await other.post(path, data=form_of(tab_b, "form-item",
                                                purpose="marketing"))).status_code == 303
    refused = await client.post(path, data=form_of(tab_a, "form-item", duration_days="30"))
    assert refused.status_code == 409
    text = shown(refused.text)
    assert b_email in text and "purpose: statistics → marketing" in text
    assert "Purpose changed meanwhile Saved now: marketing Yours: statistics" in text
    again = form_of(refused.text, "form-item")
    assert again["duration_days"] == "30" and again["purpose"] == "statistics"
    stored = await InventoryItem.get(id=ga.id).select_related("purpose")
    assert stored.purpose is not None and stored.purpose.key == "marketing"
    assert stored.duration_days == 400
    # Take the other: change the purpose back in the form to theirs and save.
    assert (await client.post(path, data={**again, "purpose": "marketing"})).status_code == 303
    stored = await InventoryItem.get(id=ga.id).select_related("purpose")
    assert (stored.purpose.key, stored.duration_days) == ("marketing", 30)  # type: ignore[union-attr]


async def test_a_bulk_action_over_rows_changed_meanwhile(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    _, b_email = await two_tabs(client, other, "privacy")
    ga = await InventoryItem.get(site=site, name="_ga")
    path = f"/admin/sites/{site.key}/inventory"
    listed = (await client.get(path)).text
    item_page = f"{path}/{ga.id}"
    tab_b = (await other.get(item_page)).text
    assert (await other.post(item_page, data=form_of(tab_b, "form-item",
                                                     review_status="gone"))).status_code == 303
    ids = [str(i.id) for i in await InventoryItem.filter(site=site).order_by("id")]
    bulk = f"{path}/bulk"
    sent = form_of(listed, "form-bulk", action="mark_reviewed")
    data = [*sent.items(), *(("item", i) for i in ids)]
    refused = await client.post(bulk, data=multi(data))
    assert refused.status_code == 409
    text = shown(refused.text)
    assert "1 of the rows ticked was changed by someone else" in text
    assert b_email in text and "review_status: reviewed → gone" in text
    assert not await InventoryItem.filter(site=site, review_status="gone").exclude(
        id=ga.id).exists()
    assert await InventoryItem.filter(site=site, review_status="reviewed").count() == 2
    # The rows are still ticked, each with its version now.
    again = _Form("form-bulk")
    again.feed(refused.text)
    assert sorted(v for k, v in again.fields if k == "item") == sorted(ids)
    # "Apply to the others only": theirs kept on _ga.
    others = await client.post(bulk, data=multi([*again.fields, ("skip", str(ga.id))]))
    assert others.status_code == 303
    assert (await InventoryItem.get(id=ga.id)).review_status == "gone"
    # Mine over theirs: the refused page's form as it is.
    listed = (await client.get(path)).text
    mine = _Form("form-bulk")
    mine.feed(listed)
    fields = [(k, v) for k, v in mine.fields if k != "action"] + [("action", "mark_reviewed"),
                                                                 ("item", str(ga.id))]
    assert (await client.post(bulk, data=multi(fields))).status_code == 303
    assert (await InventoryItem.get(id=ga.id)).review_status == "reviewed"


async def test_a_vendor_two_tabs(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    _, b_email = await two_tabs(client, other, "privacy")
    google = await Vendor.get(site=site, key="google")
    path = f"/admin/sites/{site.key}/vendors/{google.id}"
    tab_a, tab_b = (await client.get(path)).text, (await other.get(path)).text
    assert (await other.post(path, data=form_of(tab_b, "form-vendor",
                                                country="IE"))).status_code == 303
    refused = await client.post(path, data=form_of(tab_a, "form-vendor", name="Alphabet"))
    assert refused.status_code == 409
    text = shown(refused.text)
    assert b_email in text and "Country changed meanwhile Saved now: IE Yours: US" in text
    again = form_of(refused.text, "form-vendor")
    assert again["name"] == "Alphabet"
    assert (await Vendor.get(id=google.id)).name == "Google"
    assert (await client.post(path, data={**again, "country": "IE"})).status_code == 303
    stored = await Vendor.get(id=google.id)
    assert (stored.name, stored.country) == ("Alphabet", "IE")


async def test_site_settings_and_retention_share_one_version(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    _, b_email = await two_tabs(client, other, "owner")
    settings = f"/admin/sites/{site.key}"
    retention = f"/admin/sites/{site.key}/retention"
    tab_a = (await client.get(settings)).text
    tab_a_retention = (await client.get(retention)).text
    tab_b = (await other.get(retention)).text
    assert (await other.post(retention, data=form_of(tab_b, "form-days",
                                                     days="400"))).status_code == 303
    refused = await client.post(settings, data=form_of(tab_a, "form-site", name="A:s namn"))
    assert refused.status_code == 409
    text = shown(refused.text)
    assert b_email in text and "receipt_retention_days: 1095 → 400" in text
    assert "Keep receipts for (days) changed meanwhile Saved now: 400 Yours: 1095" in text
    again = form_of(refused.text, "form-site")
    assert again["name"] == "A:s namn"
    assert (await Site.get(id=site.id)).name == "Shop"
    refused = await client.post(retention, data=form_of(tab_a_retention, "form-days",
                                                        days="500"))
    assert refused.status_code == 409 and "Saved now: 400 Yours: 500" in shown(refused.text)
    assert (await Site.get(id=site.id)).receipt_retention_days == 400
    # Keep theirs for the retention, mine for the name.
    assert (await client.post(settings, data={**again, "receipt_retention_days": "400"})
            ).status_code == 303
    stored = await Site.get(id=site.id)
    assert (stored.name, stored.receipt_retention_days) == ("A:s namn", 400)


async def test_staff_role_two_tabs(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    _, b_email = await two_tabs(client, other, "owner")
    target = await staff_member("viewer")
    path = f"/admin/staff/{target.id}"
    tab_a, tab_b = (await client.get(path)).text, (await other.get(path)).text
    assert (await other.post(f"{path}/role", data=form_of(tab_b, "form-role",
                                                          role="privacy"))).status_code == 303
    refused = await client.post(f"{path}/role", data=form_of(tab_a, "form-role", role="owner"))
    assert refused.status_code == 409
    text = shown(refused.text)
    assert b_email in text and "role: viewer → privacy" in text
    assert "Saved now: privacy Yours: owner" in text
    assert (await Staff.get(id=target.id)).role == "privacy"
    # Disabling from the old tab is refused too: the account changed since it was read.
    refused = await client.post(f"{path}/active", data=form_of(tab_a, "form-active"))
    assert refused.status_code == 409 and (await Staff.get(id=target.id)).active
    assert form_of(refused.text, "form-active")["active"] == "no"  # still what was asked
    again = form_of(refused.text, "form-active")
    assert (await client.post(f"{path}/active", data=again)).status_code == 303
    assert not (await Staff.get(id=target.id)).active


async def test_staff_unlock_reset_links_two_factor_sites_and_removal_two_tabs(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    """An action on an account taken from a page read before someone changed it is refused
    and offered again; an action that changes no field (unlock, reset link, two-factor
    reset) moves no version, so the other tab's forms still save."""
    site, _ = await published_site()
    _, b_email = await two_tabs(client, other, "owner")
    target = await staff_member("viewer")
    await Staff.filter(id=target.id).update(failed_logins=5, totp_secret="JBSWY3DPEHPK3PXP")
    path = f"/admin/staff/{target.id}"
    tab_a, tab_b = (await client.get(path)).text, (await other.get(path)).text
    assert (await other.post(f"{path}/role", data=form_of(tab_b, "form-role",
                                                          role="privacy"))).status_code == 303
    for action, form_id, anyway in (
        ("unlock", "form-unlock", "Unlock it anyway"),
        ("two-factor", "form-two_factor", "Reset it anyway"),
        ("reset", "form-reset", "Make the link anyway"),
        ("sites", "form-sites", "Save my sites anyway"),
        ("remove", "form-remove", "Remove it anyway"),
    ):
        sent = form_of(tab_a, form_id)
        if action == "remove":
            sent["confirm"] = "yes"
        if action == "sites":
            sent = {**sent, "limited": "chosen", "sites": str(site.id)}
        refused = await client.post(f"{path}/{action}", data=sent)
        assert refused.status_code == 409, action
        text = shown(refused.text)
        assert b_email in text and "role: viewer → privacy" in text and anyway in text, action
    account = await Staff.get(id=target.id)
    assert (account.failed_logins, account.totp_secret is not None) == (5, True)
    assert not account.site_limited
    # Each again from the conflict page, at the version now.
    tab_b = (await other.get(path)).text
    page = (await client.post(f"{path}/unlock", data=form_of(tab_a, "form-unlock"))).text
    assert (await client.post(f"{path}/unlock", data=form_of(page, "form-unlock"))
            ).status_code == 303
    assert (await Staff.get(id=target.id)).failed_logins == 0
    # The unlock moved no version: B's tab, read before it, still changes the role.
    assert (await other.post(f"{path}/role", data=form_of(tab_b, "form-role", role="owner"))
            ).status_code == 303
    page = (await client.post(f"{path}/sites", data={**form_of(tab_a, "form-sites"),
                                                     "limited": "chosen",
                                                     "sites": str(site.id)})).text
    again = form_of(page, "form-sites")
    assert (again["limited"], again["sites"]) == ("chosen", str(site.id))  # as A chose
    assert (await client.post(f"{path}/sites", data=again)).status_code == 303
    assert (await Staff.get(id=target.id)).site_limited
    page = (await client.post(f"{path}/remove", data={**form_of(tab_a, "form-remove"),
                                                      "confirm": "yes"})).text
    again = form_of(page, "form-remove")
    assert again["confirm"] == "yes"
    assert (await client.post(f"{path}/remove", data=again)).status_code == 303
    assert not await Staff.exists(id=target.id)


async def test_a_viewer_still_cannot_save_and_a_form_without_its_token_is_refused(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    viewer = await staff_member("viewer")
    await sign_in(client, viewer.email)
    ga = await InventoryItem.get(site=site, name="_ga")
    path = f"/admin/sites/{site.key}/inventory/{ga.id}"
    page = (await client.get(path)).text
    assert 'name="version"' in page
    data = {**dict(form_of(page, "form-item")), "name": "_ga", "purpose": "marketing"}
    assert (await client.post(path, data=data)).status_code == 403
    privacy = await staff_member("privacy")
    await sign_in(other, privacy.email)
    tab = (await other.get(path)).text
    no_token = {k: v for k, v in form_of(tab, "form-item").items() if k != "csrf_token"}
    assert (await other.post(path, data=no_token)).status_code == 403
    stored = await InventoryItem.get(id=ga.id).select_related("purpose")
    assert stored.purpose is not None and stored.purpose.key == "statistics"


async def test_a_garbled_version_is_refused_with_a_message(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await two_tabs(client, other, "privacy")
    path = f"/admin/sites/{site.key}/banner"
    tab = (await client.get(path, params={"lang": "sv"})).text
    r = await client.post(path, data=form_of(tab, "form-texts", version="٣",
                                             **{"text-title": "Ny"}))
    assert r.status_code == 422 and "reload the page" in r.text
    assert (await Site.get(id=site.id)).texts.get("sv", {}).get("title") != "Ny"
    await inventory.add_item(site, name="x")  # the page still answers afterwards
    assert (await client.get(path, params={"lang": "sv"})).status_code == 200


async def test_a_bulk_action_with_a_garbled_version_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await two_tabs(client, other, "privacy")
    ga = await InventoryItem.get(site=site, name="_ga")
    path = f"/admin/sites/{site.key}/inventory"
    sent = form_of((await client.get(path)).text, "form-bulk", action="mark_gone",
                   item=str(ga.id), **{f"version-{ga.id}": "1e3"})
    refused = await client.post(f"{path}/bulk", data=sent)
    assert refused.status_code == 422 and "reload the page" in refused.text
    assert (await InventoryItem.get(id=ga.id)).review_status == "reviewed"

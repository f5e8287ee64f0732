"""Every choice becomes a receipt in the server's database, with the fields of the contract."""

from __future__ import annotations

import re

from playwright.async_api import Request

from .banner import banner, consent_cookie, dialog
from .conftest import Visit
from .factories import Tag, page
from .servers import CmpServer, HostServer

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


async def test_accept_all_is_recorded_with_every_field(visit: Visit, host: HostServer, tag: Tag,
                                                       path: str, cmp: CmpServer) -> None:
    url = host.add(path, page(tag))
    await visit.page.goto(url + "?utm_source=x#top")
    await visit.page.get_by_role("button", name="Accept all").click()
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    stored = await consent_cookie(visit.page)
    assert stored is not None
    assert UUID.match(row["receipt_id"]) and UUID.match(row["consent_id"])
    assert row["consent_id"] == stored["consent_id"]
    assert row["config_version"] == 1
    assert row["choices"] == {"necessary": True, "preferences": True, "statistics": True,
                              "marketing": True}
    assert (row["method"], row["layer"], row["language"]) == ("accept_all", "first", "en")
    assert row["page_url"] == url  # no query string or fragment: they may carry personal data
    assert row["ip_truncated"] == "127.0.0.0"
    assert "Chrome" in row["user_agent"]
    assert row["texts_hash"]
    # Delivered, so nothing stays queued.
    queued = await visit.page.evaluate(f"localStorage.getItem('cmp_receipts_{tag.site_key}')")
    assert queued == "[]"


async def test_reject_all_is_recorded(visit: Visit, host: HostServer, tag: Tag, path: str,
                                      cmp: CmpServer) -> None:
    await visit.page.goto(host.add(path, page(tag)))
    await visit.page.get_by_role("button", name="Reject all").click()
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    assert row["choices"] == {"necessary": True, "preferences": False, "statistics": False,
                              "marketing": False}
    assert (row["method"], row["layer"]) == ("reject_all", "first")


async def test_custom_choice_from_the_second_layer(visit: Visit, host: HostServer, tag: Tag,
                                                   path: str, cmp: CmpServer) -> None:
    await visit.page.goto(host.add(path, page(tag, lang="sv")))
    await visit.page.get_by_role("button", name="Anpassa").click()
    prefs = visit.page.get_by_role("dialog", name="Inställningar för kakor")
    # Nothing optional is ticked in advance; the required purpose is on and cannot be changed.
    assert await prefs.get_by_role("switch", name="Nödvändiga").is_checked()
    assert await prefs.get_by_role("switch", name="Nödvändiga").is_disabled()
    for name in ("Inställningar", "Statistik", "Marknadsföring"):
        assert not await prefs.get_by_role("switch", name=name).is_checked()
    await prefs.get_by_role("switch", name="Statistik").check()
    await prefs.get_by_role("button", name="Spara mina val").click()
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    assert row["choices"] == {"necessary": True, "preferences": False, "statistics": True,
                              "marketing": False}
    assert (row["method"], row["layer"], row["language"]) == ("custom", "second", "sv")
    assert await dialog(visit.page).count() == 0 and await banner(visit.page).count() == 0


async def test_the_visitor_can_see_their_receipts(visit: Visit, host: HostServer, tag: Tag,
                                                  path: str, cmp: CmpServer) -> None:
    await visit.page.goto(host.add(path, page(tag)))
    await visit.page.get_by_role("button", name="Reject all").click()
    await cmp.wait_receipts(tag.site_key, 1)
    await visit.page.get_by_role("button", name="Cookie settings").click()
    await dialog(visit.page).get_by_role("switch", name="Statistics").check()
    await dialog(visit.page).get_by_role("button", name="Save my choices").click()
    await cmp.wait_receipts(tag.site_key, 2)
    await visit.page.get_by_text("Change cookie choices").click()
    await dialog(visit.page).get_by_role("button", name="My consent receipts").click()
    items = dialog(visit.page).get_by_role("listitem").filter(has_text=re.compile(r"\d{4}"))
    await items.nth(1).wait_for()
    texts = await items.all_inner_texts()
    # Oldest first: the refusal (necessary only), then statistics granted.
    assert texts[0].endswith("Necessary")
    assert texts[1].endswith("Necessary, Statistics")
    # The consent id to quote to the site's privacy staff: the one in the cookie.
    stored = await consent_cookie(visit.page)
    assert stored is not None
    shown = dialog(visit.page).get_by_text("Your consent ID:")
    assert await shown.inner_text() == f"Your consent ID: {stored['consent_id']}"


async def test_without_fetch_the_receipt_goes_by_send_beacon(visit: Visit, host: HostServer,
                                                             tag: Tag, path: str,
                                                             cmp: CmpServer) -> None:
    await visit.context.add_init_script("delete window.fetch;")
    posts: list[Request] = []
    visit.page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    await visit.page.goto(host.add(path, page(tag)))
    assert await visit.page.evaluate("typeof window.fetch") == "undefined"
    async with visit.page.expect_request(lambda r: r.method == "POST") as sent:
        await visit.page.get_by_role("button", name="Reject all").click()
    beacon = await sent.value
    assert beacon.resource_type == "ping"  # navigator.sendBeacon, not fetch
    assert beacon.headers["content-type"].startswith("text/plain")
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    stored = await consent_cookie(visit.page)
    assert stored is not None and row["consent_id"] == stored["consent_id"]
    assert (row["method"], row["layer"]) == ("reject_all", "first")
    assert row["choices"] == {"necessary": True, "preferences": False, "statistics": False,
                              "marketing": False}
    assert [r.resource_type for r in posts] == ["ping"]  # one send, no retry by other means
    # Handed to the browser: nothing stays queued.
    queued = await visit.page.evaluate(f"localStorage.getItem('cmp_receipts_{tag.site_key}')")
    assert queued == "[]"

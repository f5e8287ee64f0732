"""Withdrawal: reachable at any time, deletes the purpose's cookies on the host and every parent
domain and path, and its storage keys; recorded as `withdraw`; reloads the page when a script of
the withdrawn purpose has run in it."""

from __future__ import annotations

from .banner import banner, dialog, settled, stored_cookies
from .conftest import Visit
from .factories import BLOCKED, Tag, page, published_site
from .servers import HOST, CmpServer, HostServer

SUB = f"a.{HOST}"
# A tracker that sets its cookie again and again, as analytics scripts do on each event.
TRACKER = """
<script type="text/plain" data-cmp-category="statistics">
  window.trackerRan = true;
  setInterval(function () { document.cookie = '_ga=tracked; path=/'; }, 5);
</script>
"""


async def test_withdrawing_deletes_cookies_on_host_and_parent_domain(
    visit: Visit, host: HostServer, cmp: CmpServer, path: str
) -> None:
    site = await cmp.call(published_site(cookie_domain=HOST))
    tag = Tag(cmp.origin, site.key)
    # No blocked script on the page: deletion alone, without the reload.
    host.add(path + "shop/item", page(tag, body=""))
    url = host.url(path + "shop/item", host=SUB)
    await visit.page.goto(url)
    await visit.page.get_by_role("button", name="Accept all").click()
    # What analytics and ads scripts leave behind, on the subdomain, the parent and a path.
    await visit.page.evaluate(f"""() => {{
        document.cookie = '_ga=1; path=/';
        document.cookie = '_ga=2; path=/; domain={HOST}';
        document.cookie = '_ga_ABC123=3; path={path}shop; domain={HOST}';
        document.cookie = '_ga_XYZ=4; path={path}shop/';
        document.cookie = '_fbp=5; path=/; domain={HOST}';
        document.cookie = 'unrelated=6; path=/';
        localStorage.setItem('stats_visits', '3');
        localStorage.setItem('keep_me', '1');
    }}""")
    expected = {"_ga", "_ga_ABC123", "_ga_XYZ", "_fbp", "cmp_consent"}
    stored = await stored_cookies(visit.context, lambda cs: expected <= {c["name"] for c in cs})
    assert expected <= {c["name"] for c in stored}

    await visit.page.get_by_role("button", name="Cookie settings").click()
    await dialog(visit.page).get_by_role("switch", name="Statistics").uncheck()
    await dialog(visit.page).get_by_role("button", name="Save my choices").click()

    stored = await stored_cookies(
        visit.context, lambda cs: not [c for c in cs if c["name"].startswith("_ga")])
    left = {(c["name"], c["domain"], c["path"]) for c in stored}
    assert not [c for c in left if c[0].startswith("_ga")], left
    assert ("_fbp", f".{HOST}", "/") in left  # marketing is still granted
    assert ("unrelated", SUB, "/") in left
    # The choice itself lives on the configured domain, so every subdomain shares it.
    assert ("cmp_consent", f".{HOST}", "/") in left
    assert await visit.page.evaluate("localStorage.getItem('stats_visits')") is None
    assert await visit.page.evaluate("localStorage.getItem('keep_me')") == "1"

    rows = await cmp.wait_receipts(site.key, 2)
    assert [r["method"] for r in rows] == ["accept_all", "withdraw"]
    assert rows[1]["choices"]["statistics"] is False
    assert rows[1]["consent_id"] == rows[0]["consent_id"]
    assert rows[1]["previous_receipt_id"] == rows[0]["receipt_id"]
    assert rows[1]["layer"] == "second"

    # The parent domain's page sees the same choice: no banner there.
    await visit.page.goto(host.url(path + "shop/item"))
    assert await visit.page.evaluate("window.cmp.getConsent().choices.statistics") is False
    assert await visit.page.evaluate("window.cmp.hasConsent('marketing')") is True


async def test_withdrawing_marketing_unloads_its_iframe(visit: Visit, host: HostServer, tag: Tag,
                                                       path: str) -> None:
    # Only the iframe: no marketing script runs, so the page is not reloaded.
    iframe = BLOCKED[BLOCKED.index("<iframe"):]
    await visit.page.goto(host.add(path, page(tag, body=iframe)))
    await visit.page.get_by_role("button", name="Accept all").click()
    await visit.page.frame_locator("iframe").locator("#frame").wait_for()
    await visit.page.evaluate("window.marker = 'same document'")
    await visit.page.evaluate("window.cmp.setConsent({marketing: false})")
    await visit.page.get_by_role("button", name="Allow Marketing").wait_for()
    has_src = await visit.page.evaluate("document.querySelector('iframe').hasAttribute('src')")
    assert has_src is False
    assert await visit.page.evaluate("window.marker") == "same document"


async def test_without_the_floating_button_data_cmp_open_still_reopens(
    visit: Visit, host: HostServer, cmp: CmpServer, path: str
) -> None:
    site = await cmp.call(published_site(options={"floating_button": False}))
    url = host.add(path, page(Tag(cmp.origin, site.key), body=""))
    p = visit.page
    await p.goto(url)
    await p.get_by_role("button", name="Accept all").click()
    # Where the floating button would take the banner's place at once: nothing.
    assert await banner(p).count() == 0
    assert await p.get_by_role("button", name="Cookie settings").count() == 0

    # A later page view: past the point where the floating button would be shown.
    await p.goto(url)
    await settled(p)
    assert await p.get_by_role("button", name="Cookie settings").count() == 0
    assert await p.locator("cmp-banner").count() == 0

    # The site's own link reopens the choices, and the change is a withdrawal.
    await p.get_by_text("Change cookie choices").click()
    await dialog(p).get_by_role("switch", name="Marketing").uncheck()
    await dialog(p).get_by_role("button", name="Save my choices").click()
    assert await dialog(p).count() == 0
    assert await p.get_by_role("button", name="Cookie settings").count() == 0
    rows = await cmp.wait_receipts(site.key, 2)
    assert [r["method"] for r in rows] == ["accept_all", "withdraw"]
    # And again: reopening also works from the keyboard, Escape closes.
    await p.get_by_text("Change cookie choices").focus()
    await p.keyboard.press("Enter")
    await dialog(p).wait_for()
    await p.keyboard.press("Escape")
    assert await dialog(p).count() == 0
    assert await p.get_by_role("button", name="Cookie settings").count() == 0


async def test_withdrawing_a_purpose_whose_script_ran_reloads_the_page(
    visit: Visit, host: HostServer, cmp: CmpServer, path: str
) -> None:
    site = await cmp.call(published_site())
    url = host.add(path, page(Tag(cmp.origin, site.key), body=TRACKER))
    p = visit.page
    await p.goto(url)
    await p.get_by_role("button", name="Accept all").click()
    await p.wait_for_function("document.cookie.indexOf('_ga=tracked') >= 0")
    await p.evaluate("window.marker = 'first document'")

    # Withdrawing a purpose whose script did not run keeps the page.
    await p.evaluate("window.cmp.setConsent({marketing: false})")
    await p.wait_for_timeout(200)
    assert await p.evaluate("window.marker") == "first document"

    await p.get_by_role("button", name="Cookie settings").click()
    await dialog(p).get_by_role("switch", name="Statistics").uncheck()
    async with p.expect_navigation():
        await dialog(p).get_by_role("button", name="Save my choices").click()
    assert await p.evaluate("window.marker") is None
    assert await p.evaluate("window.trackerRan") is None
    # The old page's tracker ran until the new page came; its cookie is gone all the same.
    await p.wait_for_timeout(100)
    assert "_ga" not in await p.evaluate("document.cookie")
    assert not [c for c in await visit.context.cookies() if c["name"] == "_ga"]
    rows = await cmp.wait_receipts(site.key, 3)
    assert [r["method"] for r in rows] == ["accept_all", "withdraw", "withdraw"]
    assert rows[2]["choices"]["statistics"] is False


async def test_a_site_can_turn_the_reload_off(
    visit: Visit, host: HostServer, cmp: CmpServer, path: str
) -> None:
    site = await cmp.call(published_site(options={"reload_on_withdraw": False}))
    p = visit.page
    await p.goto(host.add(path, page(Tag(cmp.origin, site.key), body=TRACKER)))
    await p.get_by_role("button", name="Accept all").click()
    await p.wait_for_function("document.cookie.indexOf('_ga=tracked') >= 0")
    await p.evaluate("window.marker = 'first document'")
    await p.evaluate("window.cmp.setConsent({statistics: false})")
    await cmp.wait_receipts(site.key, 2)
    await p.wait_for_timeout(200)
    assert await p.evaluate("window.marker") == "first document"

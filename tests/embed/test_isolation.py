"""Isolation and safety: strict CSP, hostile host styles, texts as text, languages, declaration."""

from __future__ import annotations

import httpx

from cmp_server.services import publishing, sites

from .banner import banner, consent_cookie, dialog, focused, poll
from .conftest import Visit
from .factories import BLOCKED, Tag, page, published_site
from .servers import CMP_HOST, CmpServer, HostServer

VIOLATIONS = """window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"""


async def test_works_under_a_strict_csp(visit: Visit, host: HostServer, tag: Tag, path: str,
                                        cmp: CmpServer) -> None:
    csp = (f"default-src 'self'; script-src 'self' {cmp.origin} 'nonce-n0nce'; "
           f"style-src 'self'; connect-src {cmp.origin}; frame-src 'self'; img-src 'self'")
    body = BLOCKED.replace('<script type="text/plain" data-cmp-category="statistics">',
                           '<script type="text/plain" nonce="n0nce"'
                           ' data-cmp-category="statistics">')
    await visit.context.add_init_script(VIOLATIONS)
    url = host.add(path, page(tag, body=body), headers={"Content-Security-Policy": csp})
    await visit.page.goto(url)
    accept = visit.page.get_by_role("button", name="Accept all")
    await accept.wait_for()
    # Styled by the adopted stylesheet, not by inline styles the CSP would block.
    background = await accept.evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert background == "rgb(29, 63, 114)"
    await accept.click()
    await cmp.wait_receipts(tag.site_key, 1)
    # Inline scripts carrying the page's nonce run; the one without it is refused by the CSP.
    await poll(visit.page, "(window.ran || []).length === 3")
    assert await visit.page.evaluate("window.ran") == ["stats-1", "stats-2", "stats-3"]
    violations = await visit.page.evaluate("window.cspViolations")
    assert violations == ["script-src-elem inline"], violations


async def test_host_styles_cannot_break_the_banner(visit: Visit, host: HostServer, tag: Tag,
                                                   path: str) -> None:
    hostile = "<style>button { display: none !important; } * { color: red !important; }" \
        " div { font-size: 4px !important; }</style>"
    await visit.page.goto(host.add(path, page(tag, head=hostile)))
    accept = visit.page.get_by_role("button", name="Accept all")
    await accept.wait_for(state="visible")
    assert await accept.evaluate("(el) => getComputedStyle(el).color") == "rgb(255, 255, 255)"


async def test_texts_are_rendered_as_text(visit: Visit, host: HostServer, tag: Tag, path: str,
                                          cmp: CmpServer) -> None:
    markup = '<img src=x onerror="window.pwned=1"><b>Hi</b>'

    async def hostile_texts() -> None:
        site = await sites.get_site(tag.site_key)
        await sites.update_site(site, texts={"en": {"title": markup}})
        await publishing.publish(site)

    await cmp.call(hostile_texts())
    await visit.page.goto(host.add(path, page(tag)))
    await visit.page.get_by_role("region", name=markup).wait_for()
    await visit.page.wait_for_timeout(200)
    assert await visit.page.evaluate("window.pwned") is None


BREAKOUT = "</script><script>window.pwned = (window.pwned || 0) + 1</script><!-- & -->"


async def test_the_script_is_safe_inline_and_by_src(visit: Visit, host: HostServer, tag: Tag,
                                                    path: str, cmp: CmpServer) -> None:
    """A site owner may paste cmp.js into an inline <script>: a "</script>" in a text must not
    end it there (the inlined config escapes <, > and &), and it must still work by src."""

    async def hostile_texts() -> None:
        site = await sites.get_site(tag.site_key)
        await sites.update_site(site, texts={"en": {"title": BREAKOUT}})
        await publishing.publish(site)

    await cmp.call(hostile_texts())
    async with httpx.AsyncClient() as client:
        body = (await client.get(tag.src.replace(CMP_HOST, "127.0.0.1"))).text
    assert "</script" not in body.lower() and "<!--" not in body
    inline = page(None, head=f"<script>{body}</script>")
    for url in (host.add(path + "inline", inline), host.add(path + "src", page(tag))):
        await visit.page.goto(url)
        await visit.page.get_by_role("region", name=BREAKOUT).wait_for()
        await visit.page.wait_for_timeout(200)
        assert await visit.page.evaluate("window.pwned") is None, url


async def test_language_from_html_lang_then_browser_then_default(
    visit: Visit, host: HostServer, tag: Tag, path: str
) -> None:
    sv = host.add(path + "sv", page(tag, lang="sv-SE"))
    await visit.page.goto(sv)
    await visit.page.get_by_role("button", name="Avvisa alla").wait_for()
    assert await banner(visit.page).count() == 0
    # <html lang> not offered by the site: the browser's languages decide.
    de = host.add(path + "de", page(tag, lang="de"))
    danish = await visit.context.browser.new_context(locale="da-DK")  # type: ignore[union-attr]
    try:
        p = await danish.new_page()
        await p.goto(de)
        await p.get_by_role("button", name="Afvis alle").wait_for()
        french = await visit.context.browser.new_context(locale="fr-FR")  # type: ignore[union-attr]
        p2 = await french.new_page()
        await p2.goto(de)
        await p2.get_by_role("button", name="Reject all").wait_for()
        await french.close()
    finally:
        await danish.close()


async def test_cookie_declaration_is_filled(visit: Visit, host: HostServer, tag: Tag,
                                            path: str) -> None:
    body = "<h2>Cookies we use</h2><div data-cmp-declaration></div>"
    await visit.page.goto(host.add(path, page(tag, body=body)))
    tables = visit.page.locator("[data-cmp-declaration] table")
    await tables.first.wait_for()
    assert await tables.locator("caption").all_inner_texts() == [
        "Necessary", "Preferences", "Statistics", "Marketing"]
    stats = visit.page.locator("[data-cmp-declaration] [data-purpose=statistics] tbody tr")
    rows = [await r.locator("td").all_inner_texts() for r in await stats.all()]
    assert ["_ga", "Google", "400 days", "First party"] in rows
    assert ["_ga_*", "Google", "400 days", "First party"] in rows
    prefs = visit.page.locator("[data-cmp-declaration] [data-purpose=preferences] tbody tr")
    assert await prefs.first.locator("td").all_inner_texts() == ["sess_pref", "", "Session",
                                                                 "First party"]


async def test_cookie_declaration_added_later_is_filled(visit: Visit, host: HostServer, tag: Tag,
                                                        path: str) -> None:
    await visit.page.goto(host.add(path, page(tag, body="")))
    await visit.page.wait_for_load_state("load")
    # A single-page app renders its policy page after load: a declaration inside new markup,
    # and one added on its own.
    await visit.page.evaluate("""() => {
        const section = document.createElement('section');
        section.innerHTML = '<h2>Cookies we use</h2><div id="nested" data-cmp-declaration></div>';
        document.querySelector('main').appendChild(section);
        const direct = document.createElement('div');
        direct.id = 'direct';
        direct.setAttribute('data-cmp-declaration', '');
        document.body.appendChild(direct);
    }""")
    for which in ("nested", "direct"):
        captions = visit.page.locator(f"#{which} table caption")
        await captions.first.wait_for()
        assert await captions.all_inner_texts() == [
            "Necessary", "Preferences", "Statistics", "Marketing"]
        stats = visit.page.locator(f"#{which} [data-purpose=statistics] tbody tr")
        rows = [await r.locator("td").all_inner_texts() for r in await stats.all()]
        assert ["_ga", "Google", "400 days", "First party"] in rows


async def test_cookie_declaration_shows_the_current_choice_and_reopens_it(
    visit: Visit, host: HostServer, tag: Tag, path: str
) -> None:
    body = "<h2>Cookies we use</h2><div data-cmp-declaration></div>"
    p = visit.page
    await p.goto(host.add(path, page(tag, body=body)))
    state = p.locator("[data-cmp-declaration] [data-cmp-state]")
    await p.locator("[data-cmp-declaration] table").first.wait_for()
    assert await state.is_hidden()  # no choice yet

    await p.get_by_role("button", name="Reject all").click()
    await state.wait_for(state="visible")
    stored = await consent_cookie(p)
    assert stored is not None
    text = await state.inner_text()
    assert text.startswith("Your current choice (") and "): Necessary." in text
    assert text.endswith(f"Your consent ID: {stored['consent_id']}")

    # The declaration's own button reopens the choices; a change shows there at once, and
    # focus goes back to the button.
    button = p.locator("[data-cmp-declaration] button")
    await button.focus()
    await p.keyboard.press("Enter")
    await dialog(p).get_by_role("switch", name="Statistics").check()
    await dialog(p).get_by_role("button", name="Save my choices").click()
    await p.wait_for_function("""() => document.querySelector('[data-cmp-state]')
        .textContent.includes('Necessary, Statistics.')""")
    assert await focused(p) == "Cookie settings"
    assert await p.evaluate("document.activeElement.closest('[data-cmp-declaration]') !== null")


async def test_a_purpose_without_items_gets_a_dash_row(visit: Visit, host: HostServer,
                                                       cmp: CmpServer, path: str) -> None:
    async def site_with_an_empty_purpose() -> str:
        site = await published_site()
        await sites.set_purpose(site, "video", name={"en": "Embedded video"})
        await publishing.publish(site)
        return site.key

    key = await cmp.call(site_with_an_empty_purpose())
    body = "<div data-cmp-declaration></div>"
    await visit.page.goto(host.add(path, page(Tag(cmp.origin, key), body=body)))
    video = visit.page.locator("[data-cmp-declaration] [data-purpose=video]")
    await video.locator("caption").wait_for()
    assert await video.locator("caption").inner_text() == "Embedded video"
    assert await video.locator("tbody td").all_inner_texts() == ["—"]
    assert await video.locator("tbody td").get_attribute("colspan") == "4"

"""Isolation and safety: strict CSP, hostile host styles, texts as text, languages (the cookie
declaration's own: test_declaration.py)."""

from __future__ import annotations

import httpx

from cmp_server.services import publishing, sites

from .banner import banner, poll
from .conftest import Visit
from .factories import BLOCKED, Tag, page
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

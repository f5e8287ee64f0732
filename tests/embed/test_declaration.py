"""The cookie declaration (embed/src/ui/declaration.js): what it shows, its tables' styles under a
strict CSP and hostile host styles, the narrow layout, texts as text, and screenshots of a
realistic cookie policy page (written to ``CMP_TEST_SCREENSHOTS`` when set)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Locator, Page

from cmp_server.models import Site
from cmp_server.services import inventory, publishing, sites

from .banner import consent_cookie, dialog, focused
from .conftest import Visit
from .factories import Tag, page, published_site
from .servers import HOST, CmpServer, HostServer
from .test_accessibility import violations
from .test_isolation import VIOLATIONS

pytestmark = pytest.mark.browser

DECLARATION = "<h2>Cookies we use</h2><div data-cmp-declaration></div>"
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}
LONG_NAME = "wordpress_logged_in_5c7a1d3e9b2f4a6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("CMP_TEST_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def declaration(p: Page) -> Locator:
    return p.locator("[data-cmp-declaration]")


async def rows(p: Page, purpose: str) -> list[list[str]]:
    body = declaration(p).locator(f"[data-purpose={purpose}] tbody tr")
    await body.first.wait_for()
    return [await r.locator("td").all_inner_texts() for r in await body.all()]


async def captions(scope: Locator) -> list[str]:
    caption = scope.locator("table caption")
    await caption.first.wait_for()
    return await caption.all_text_contents()


# Purpose names come first in each caption for screen readers (visually hidden: the heading
# above says it); the counts follow.
CAPTIONS = ["Necessary: Cookies and storage (1)", "Preferences: Cookies and storage (1)",
            "Statistics: Cookies and storage (3)", "Marketing: Cookies and storage (1)"]


async def test_cookie_declaration_is_filled(visit: Visit, host: HostServer, tag: Tag,
                                            path: str) -> None:
    p = visit.page
    await p.goto(host.add(path, page(tag, body=DECLARATION)))
    assert await captions(declaration(p)) == CAPTIONS
    headings = declaration(p).get_by_role("heading", level=3)
    assert await headings.all_inner_texts() == [
        "Necessary Always on", "Preferences", "Statistics", "Marketing"]
    header = declaration(p).locator("[data-purpose=statistics] th")
    assert await header.all_inner_texts() == [
        "Name", "Vendor", "Description", "Duration", "Party",
        "Transfer outside the EU/EEA"]
    assert await header.evaluate_all("(ths) => ths.every((th) => th.scope === 'col')")
    stats = await rows(p, "statistics")
    assert stats[0] == ["_ga", "Google\nUnited States", "Tells visitors apart.", "13 months",
                        "First party", "Yes (basis: EU-US Data Privacy Framework)"]
    assert stats[1][:4] == ["_ga_*", "Google\nUnited States", "", "13 months"]
    # Storage without a duration lives until deleted; its kind is said under its name.
    assert stats[2][0] == "stats_*\nlocalStorage" and stats[2][3] == "Until deleted"
    # A vendor without known transfers is "not known"; the site's own cookie transfers nothing.
    assert (await rows(p, "marketing"))[0][5] == "Not known"
    assert await rows(p, "preferences") == [["sess_pref", "", "", "Session", "First party", "No"]]
    vendor = declaration(p).get_by_role("link", name="Google").first
    assert await vendor.get_attribute("href") == "https://policies.google.com/privacy"
    # The purpose's description under its heading.
    assert "Help us understand how the site is used" in await declaration(p).locator(
        "[data-purpose=statistics] p").inner_text()


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
        assert await captions(visit.page.locator(f"#{which}")) == CAPTIONS
        stats = visit.page.locator(f"#{which} [data-purpose=statistics] tbody tr")
        assert await stats.first.locator("td").first.inner_text() == "_ga"


async def test_cookie_declaration_shows_the_current_choice_and_reopens_it(
    visit: Visit, host: HostServer, tag: Tag, path: str
) -> None:
    p = visit.page
    await p.goto(host.add(path, page(tag, body=DECLARATION)))
    state = declaration(p).locator("[data-cmp-state]")
    await declaration(p).locator("table").first.wait_for()
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
    button = declaration(p).get_by_role("button", name="Cookie settings")
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
    video = declaration(visit.page).locator("[data-purpose=video]")
    await video.locator("caption").wait_for()
    assert await captions(video) == ["Embedded video: Cookies and storage (0)"]
    assert await video.locator("tbody td").all_inner_texts() == ["—"]
    assert await video.locator("tbody td").get_attribute("colspan") == "6"


# A realistic cookie policy: 13 items over four purposes, vendors whose transfers are known
# (yes, with and without a basis), known not to happen, and not known; a long cookie name.
async def policy_site() -> Site:
    site = await sites.create_site("Fjällbacka Outdoor", [HOST], languages=["en", "sv"],
                                   policy_url=f"http://{HOST}/cookies", force=True)
    vendor = inventory.add_vendor
    await vendor(site, key="google", name="Google", country="US",
                 privacy_policy_url="https://policies.google.com/privacy",
                 transfers_outside_eea=True, transfer_basis="EU-US Data Privacy Framework")
    await vendor(site, key="cloudflare", name="Cloudflare", country="US",
                 privacy_policy_url="https://www.cloudflare.com/privacypolicy/",
                 transfers_outside_eea=True)
    await vendor(site, key="klarna", name="Klarna", country="SE",
                 privacy_policy_url="https://www.klarna.com/se/dataskydd/",
                 transfers_outside_eea=False)
    await vendor(site, key="meta", name="Meta Platforms Ireland", country="IE",
                 privacy_policy_url="https://www.facebook.com/privacy/policy/")
    await vendor(site, key="vimeo", name="Vimeo", country="US")

    def d(en: str, sv: str) -> dict[str, str]:
        return {"en": en, "sv": sv}

    item = inventory.add_item
    await item(site, name="cmp_consent", purpose="necessary", duration_days=180,
               description=d("Remembers your cookie choices.", "Kommer ihåg dina val om kakor."))
    await item(site, name="__Host-session", purpose="necessary",
               description=d("Keeps you signed in and your basket filled.",
                             "Håller dig inloggad och kommer ihåg din varukorg."))
    await item(site, name="__cf_bm", purpose="necessary", vendor="cloudflare", duration_days=1,
               party="third", domain=".fjallbacka.example",
               description=d("Tells people from bots, to keep the shop available.",
                             "Skiljer människor från robotar så att butiken hålls tillgänglig."))
    await item(site, name=LONG_NAME, purpose="necessary", duration_days=14,
               description=d("Keeps staff signed in to the shop's editor.",
                             "Håller personalen inloggad i butikens redigeringsverktyg."))
    await item(site, name="lang", purpose="preferences", duration_days=365,
               description=d("Your language.", "Ditt språk."))
    await item(site, name="klarna_client_id", purpose="preferences", vendor="klarna",
               kind="localStorage",
               description=d("Remembers you at Klarna's checkout.",
                             "Känner igen dig i Klarnas kassa."))
    await item(site, name="_ga", purpose="statistics", vendor="google", duration_days=400,
               description=d("Tells visitors apart, to count them.",
                             "Skiljer besökare åt för att räkna dem."))
    await item(site, name="_ga_", match="prefix", purpose="statistics", vendor="google",
               duration_days=400, description=d("Keeps the state of a visit.",
                                                "Håller reda på ett besök."))
    await item(site, name="_gid", purpose="statistics", vendor="google", duration_days=1,
               description=d("Tells visitors apart for a day.",
                             "Skiljer besökare åt under ett dygn."))
    await item(site, name="_fbp", purpose="marketing", vendor="meta", duration_days=90,
               description=d("Measures and targets ads on Facebook and Instagram.",
                             "Mäter och riktar annonser på Facebook och Instagram."))
    await item(site, name="fr", purpose="marketing", vendor="meta", duration_days=90,
               party="third", domain=".facebook.com",
               description=d("Shows you our ads on Meta's services.",
                             "Visar våra annonser för dig på Metas tjänster."))
    await item(site, name="IDE", purpose="marketing", vendor="google", duration_days=390,
               party="third", domain=".doubleclick.net",
               description=d("Measures which ads led to a purchase.",
                             "Mäter vilka annonser som ledde till ett köp."))
    await item(site, name="vuid", purpose="marketing", vendor="vimeo", duration_days=730,
               party="third", domain=".vimeo.com",
               description=d("Counts who watched our videos.",
                             "Räknar vem som har sett våra filmer."))
    await publishing.publish(site)
    return site


POLICY_STYLE = """<style>
body { margin: 0; font: 17px/1.6 Georgia, serif; color: #262626; background: #fbfaf7; }
main { max-width: 60rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
h1 { font: 700 2.25rem/1.2 system-ui, sans-serif; margin: 0 0 1rem; }
h2 { font: 700 1.5rem/1.3 system-ui, sans-serif; margin: 2.5rem 0 .75rem; }
a { color: #0b5d3b; }
button { font: inherit; padding: .4rem 1rem; border: 1px solid #0b5d3b; border-radius: 4px;
         background: #fff; color: #0b5d3b; cursor: pointer; }
</style>"""


def policy_page(tag: Tag, lang: str) -> str:
    if lang == "sv":
        title, intro, heading, after = (
            "Om kakor", "Här berättar vi vilka kakor och liknande tekniker Fjällbacka Outdoor "
            "använder, varför, hur länge de sparas och vem som får uppgifterna.",
            "Kakor vi använder", "Frågor? Skriv till dataskydd@fjallbacka.example.")
    else:
        title, intro, heading, after = (
            "Cookie policy", "This page tells which cookies and similar technologies Fjällbacka "
            "Outdoor uses, why, for how long, and who receives the data.",
            "Cookies we use", "Questions? Write to privacy@fjallbacka.example.")
    body = (f"<p>{intro}</p><h2>{heading}</h2><div data-cmp-declaration></div>"
            f"<h2>{'Kontakt' if lang == 'sv' else 'Contact'}</h2><p>{after}</p>")
    return page(tag, body=body, lang=lang, head=POLICY_STYLE, title=title)


async def open_policy(p: Page, host: HostServer, tag: Tag, path: str, lang: str) -> None:
    await p.context.clear_cookies()
    await p.goto(host.add(f"{path}{lang}", policy_page(tag, lang)))
    accept = "Godkänn alla" if lang == "sv" else "Accept all"
    await p.get_by_role("button", name=accept).click()  # a returning visitor: no banner
    await declaration(p).locator("[data-cmp-state]").wait_for()
    await p.evaluate("document.fonts.ready")


async def no_overflow(p: Page) -> dict[str, Any]:
    """Widths of the page and of every cell that sticks out of its declaration."""
    result: dict[str, Any] = await p.evaluate("""() => {
        const root = document.querySelector('[data-cmp-declaration] div').shadowRoot;
        const box = root.firstElementChild.getBoundingClientRect();
        const out = [...root.querySelectorAll('td, th, caption, h3, p')]
            // Shown, and not in the visually hidden header row of the narrow layout.
            .filter((el) => el.getClientRects().length
                            && getComputedStyle(el.closest('thead') || el).position !== 'absolute')
            .filter((el) => { const r = el.getBoundingClientRect();
                              return r.left < box.left - 1 || r.right > box.right + 1; })
            .map((el) => el.textContent);
        return {page: document.documentElement.scrollWidth, view: innerWidth, out};
    }""")
    return result


async def test_screenshots_of_a_cookie_policy_page(visit: Visit, host: HostServer,
                                                   cmp: CmpServer, path: str,
                                                   shots: Path) -> None:
    site = await cmp.call(policy_site())
    tag = Tag(cmp.origin, site.key)
    p = visit.page
    for lang in ("en", "sv"):
        for name, size in (("desktop", DESKTOP), ("mobile", MOBILE)):
            await p.set_viewport_size(size)
            await open_policy(p, host, tag, path, lang)
            await p.screenshot(path=shots / f"declaration-{lang}-{name}.png", full_page=True)
            measured = await no_overflow(p)
            assert measured["page"] <= measured["view"], measured
            assert measured["out"] == [], measured


async def test_durations_and_transfers_in_the_pages_language(visit: Visit, host: HostServer,
                                                             cmp: CmpServer, path: str) -> None:
    site = await cmp.call(policy_site())
    tag = Tag(cmp.origin, site.key)
    p = visit.page
    await p.goto(host.add(path + "en", policy_page(tag, "en")))
    necessary = {r[0]: r for r in await rows(p, "necessary")}
    assert necessary["__cf_bm\n.fjallbacka.example"][3:] == ["1 day", "Third party", "Yes"]
    assert necessary["cmp_consent"][3] == "6 months"
    assert necessary[LONG_NAME][3] == "14 days"
    assert [r[3] for r in await rows(p, "preferences")] == ["1 year", "Until deleted"]
    marketing = {r[0].split("\n")[0]: r for r in await rows(p, "marketing")}
    assert marketing["IDE"][3] == "13 months" and marketing["vuid"][3] == "2 years"
    assert marketing["vuid"][5] == "Not known"
    # A vendor known not to transfer: "No".
    assert (await rows(p, "preferences"))[1][1:] == [
        "Klarna\nSweden", "Remembers you at Klarna's checkout.", "Until deleted", "First party",
        "No"]

    await p.goto(host.add(path + "sv", policy_page(tag, "sv")))
    heading = declaration(p).locator("[data-purpose=statistics] th")
    assert await heading.all_inner_texts() == [
        "Namn", "Leverantör", "Beskrivning", "Lagringstid", "Part",
        "Överföring utanför EU/EES"]
    ga = (await rows(p, "statistics"))[0]
    assert ga == ["_ga", "Google\nUSA", "Skiljer besökare åt för att räkna dem.", "13 månader",
                  "Förstapart", "Ja (grund: EU-US Data Privacy Framework)"]
    marketing = {r[0].split("\n")[0]: r for r in await rows(p, "marketing")}
    assert marketing["vuid"][3:] == ["2 år", "Tredjepart", "Okänt"]
    assert (await rows(p, "preferences"))[1][3:] == ["Tills den tas bort", "Förstapart", "Nej"]
    assert await captions(declaration(p)) == [
        "Nödvändiga: Kakor och lagring (4)", "Inställningar: Kakor och lagring (2)",
        "Statistik: Kakor och lagring (3)", "Marknadsföring: Kakor och lagring (4)"]


MARKUP = '<img src=x onerror="window.pwned=1"><b>x</b>'


async def test_texts_in_the_declaration_are_rendered_as_text(visit: Visit, host: HostServer,
                                                             cmp: CmpServer, path: str) -> None:
    async def hostile_site() -> str:
        site = await sites.create_site(MARKUP, [HOST], force=True)
        await sites.update_site(site, texts={"en": {
            "col_name": MARKUP, "cookies_heading": MARKUP, "always_on": MARKUP,
            "transfer_yes": MARKUP, "transfer_basis": MARKUP, "first_party": MARKUP}})
        await sites.set_purpose(site, "statistics", name={"en": MARKUP},
                                description={"en": MARKUP})
        await inventory.add_vendor(site, key="evil", name=MARKUP, country="US",
                                   transfers_outside_eea=True, transfer_basis=MARKUP)
        await inventory.add_item(site, name=MARKUP, purpose="statistics", vendor="evil",
                                 domain=MARKUP, description={"en": MARKUP})
        await publishing.publish(site)
        return site.key

    key = await cmp.call(hostile_site())
    p = visit.page
    await p.goto(host.add(path, page(Tag(cmp.origin, key), body=DECLARATION)))
    stats = declaration(p).locator("[data-purpose=statistics]")
    await stats.locator("td").first.wait_for()
    await p.wait_for_timeout(200)
    assert await p.evaluate("window.pwned") is None
    # Every text is there as text: no element was made from it.
    assert await stats.locator("img, b").count() == 0
    cells = await stats.locator("tbody td").all_text_contents()
    assert cells == [MARKUP + MARKUP, MARKUP + "United States", MARKUP, "Session", MARKUP,
                     f"{MARKUP} ({MARKUP}: {MARKUP})"]
    assert await stats.locator("h3").text_content() == MARKUP
    assert await stats.locator("p").text_content() == MARKUP
    assert await stats.locator("th").first.text_content() == MARKUP
    assert await captions(stats) == [f"{MARKUP}: {MARKUP} (1)"]
    # The label of the narrow layout is an attribute, read as text by CSS.
    assert await stats.locator("td").nth(1).get_attribute("data-label") == "Vendor"


STYLES = """(el) => {
    const root = el.querySelector(':scope > div').shadowRoot;
    const css = (sel, pseudo) => getComputedStyle(root.querySelector(sel), pseudo || null);
    const own = document.querySelector('#own th');
    return {
        host: (({display, borderTopWidth, marginTop}) => ({display, borderTopWidth, marginTop}))(
            getComputedStyle(el.querySelector(':scope > div'))),
        table: css('table').display, layout: css('table').tableLayout,
        th: [css('th').display, css('th').textAlign, css('th').borderBottomWidth,
             css('th').paddingTop],
        td: [css('td').display, css('td').textAlign, css('td').letterSpacing,
             css('td').textTransform, css('td').whiteSpace, css('td').fontFamily, css('td').color],
        code: css('code').display, heading: css('h3').display,
        cell: css('[data-purpose=statistics] td:nth-child(2)').display,
        label: css('[data-purpose=statistics] td:nth-child(2)', '::before').content,
        header: css('thead').position,
        own: own && [getComputedStyle(own).paddingTop, getComputedStyle(own.closest('table'))
                     .borderCollapse],
    };
}"""


async def test_the_declaration_is_styled_under_a_strict_csp(visit: Visit, host: HostServer,
                                                            tag: Tag, path: str,
                                                            cmp: CmpServer) -> None:
    csp = (f"default-src 'self'; script-src 'self' {cmp.origin}; style-src 'self'; "
           f"connect-src {cmp.origin}; img-src 'self'")
    await visit.context.add_init_script(VIOLATIONS)
    await visit.page.goto(host.add(path, page(tag, body=DECLARATION),
                                   headers={"Content-Security-Policy": csp}))
    await declaration(visit.page).locator("td").first.wait_for()
    styles = await declaration(visit.page).evaluate(STYLES)
    # The adopted stylesheet applies: no inline style for the CSP to block.
    assert styles["th"][2] == "2px" and styles["layout"] == "fixed"
    assert await visit.page.evaluate("window.cspViolations") == []


async def test_host_styles_cannot_break_the_declaration_nor_it_the_page(
    visit: Visit, host: HostServer, tag: Tag, path: str
) -> None:
    hostile = """<style>
    body { font-family: Georgia, serif; color: rgb(20, 40, 60); }
    main { text-align: center; letter-spacing: .3em; text-transform: uppercase;
           white-space: nowrap; }
    table, thead, tbody, tr, td, th, caption { display: inline !important;
        border: 5px dotted red !important; padding: 3rem !important; text-align: right; }
    h3, p, code, span, a { display: none !important; }
    [data-cmp-declaration] div { display: flex !important; margin: 4rem !important;
        border: 3px solid red !important; }
    </style>"""
    own = "<table id=own><tr><th>Our own table</th></tr></table>"
    p = visit.page
    await p.goto(host.add(path, page(tag, body=DECLARATION + own, head=hostile)))
    await declaration(p).locator("td").first.wait_for()
    styles = await declaration(p).evaluate(STYLES)
    assert styles["host"] == {"display": "block", "borderTopWidth": "0px", "marginTop": "0px"}
    assert styles["table"] == "table" and styles["heading"] == "block"
    assert styles["code"] == "inline"
    assert styles["th"] == ["table-cell", "start", "2px", "9.024px"]
    # The page's font and colour come in; its alignment, spacing and case do not.
    assert styles["td"] == ["table-cell", "start", "normal", "none", "normal",
                            "Georgia, serif", "rgb(20, 40, 60)"]
    # Our rules stay in the shadow root: the page's own table keeps the page's styles.
    assert styles["own"] == ["48px", "separate"]


async def test_narrow_layouts_get_a_card_per_cookie(visit: Visit, host: HostServer, tag: Tag,
                                                    path: str) -> None:
    p = visit.page
    await p.set_viewport_size(MOBILE)
    await p.goto(host.add(path + "phone", page(tag, body=DECLARATION)))
    await declaration(p).locator("td").first.wait_for()
    phone = await declaration(p).evaluate(STYLES)
    assert phone["table"] == "block" and phone["th"][0] == "table-cell"
    assert phone["header"] == "absolute"  # read by screen readers, not shown
    assert phone["cell"] == "grid" and phone["label"] == '"Vendor"'
    # A narrow column on a wide screen: the container decides, not the screen.
    await p.set_viewport_size(DESKTOP)
    await p.reload()
    await declaration(p).locator("td").first.wait_for()
    assert (await declaration(p).evaluate(STYLES))["table"] == "table"
    aside = ("<div class=narrow data-cmp-declaration></div>"
             "<style>.narrow { width: 320px; }</style>")
    await p.goto(host.add(path + "aside", page(tag, body=aside)))
    await declaration(p).locator("td").first.wait_for()
    assert (await declaration(p).evaluate(STYLES))["table"] == "block"


@pytest.mark.parametrize("size", [DESKTOP, MOBILE], ids=["desktop", "mobile"])
async def test_the_declaration_has_no_axe_violations(visit: Visit, host: HostServer,
                                                     cmp: CmpServer, path: str,
                                                     size: dict[str, int]) -> None:
    site = await cmp.call(policy_site())
    await visit.page.set_viewport_size(size)
    await open_policy(visit.page, host, Tag(cmp.origin, site.key), path, "sv")
    assert await violations(visit.page) == []

"""Swedish and Danish throughout, in a real Chromium (issue 19, part 6):

- a Danish cookie declaration of a site scanned before the knowledge base spoke Danish (its
  items hold the English descriptions only) has no English word in its rows, on a desktop and
  on a 320×568 phone, where each cell carries its column's name;
- the demo page follows the visitor's language and its switch shows a published Swedish text;
- the admin's completeness view: per language what is missing, on the banner page and the
  dashboard.

Screenshots (``CMP_TEST_SCREENSHOTS``): the Danish and Swedish banner and declaration, and the
admin's completeness view, each at 320, 768 and 1366 px wide."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cmp_server.defaults import DEFAULT_TEXTS
from cmp_server.models import Site
from cmp_server.services import drafts, inventory, publishing, sites, staff
from scanner.kb import KnowledgeBase

from ..embed.factories import Tag, page
from ..embed.servers import CMP_HOST, HOST, CmpServer, HostServer, running
from ..factories import PASSWORD
from .test_browser_banner import fits, sign_in

pytestmark = pytest.mark.browser

WIDTHS = {320: 568, 768: 1024, 1366: 768}
KB = KnowledgeBase.builtin()
# What a Danish and Swedish course provider's site sets: (name, match, kind, vendor, purpose).
ITEMS = (
    ("cmp_consent", "exact", "cookie", "cmp", "necessary"),
    ("PHPSESSID", "exact", "cookie", "php", "necessary"),
    ("wordpress_logged_in_", "prefix", "cookie", "wordpress", "necessary"),
    ("cf_clearance", "exact", "cookie", "cloudflare", "necessary"),
    ("__stripe_mid", "exact", "cookie", "stripe", "necessary"),
    ("_ga", "exact", "cookie", "google-analytics", "statistics"),
    ("_ga_", "prefix", "cookie", "google-analytics", "statistics"),
    ("_hjSessionUser_", "prefix", "cookie", "hotjar", "statistics"),
    ("_clck", "exact", "cookie", "microsoft-clarity", "statistics"),
    ("mf_user", "exact", "cookie", "mouseflow", "statistics"),
    ("mf_transmitQueue", "exact", "sessionStorage", "mouseflow", "statistics"),
    ("_gcl_au", "exact", "cookie", "google-ads", "marketing"),
    ("_fbp", "exact", "cookie", "meta", "marketing"),
    ("hubspotutk", "exact", "cookie", "hubspot", "marketing"),
    ("li_fat_id", "exact", "cookie", "linkedin", "marketing"),
    ("YSC", "exact", "cookie", "youtube", "marketing"),
)


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    """The demo page's handler, set once the demo site exists (its key is in its routes)."""
    return {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo: dict[str, Any]) -> Iterator[CmpServer]:
    async def demo_page(request: Request) -> Response:
        response: Response = await demo["page"](request)
        return response

    s = CmpServer(tmp_path_factory.mktemp("languages-db"),
                  extra_routes=[Route("/demo/", demo_page)])
    with running(s):
        yield s


@pytest.fixture(scope="module")
def host() -> Iterator[HostServer]:
    s = HostServer()
    with running(s):
        yield s


async def scanned_site(name: str = "Kursusgården") -> Site:
    """Danish first, then Swedish and English. Every item as a scan before the translations
    stored it: the knowledge base's vendor facts and its English description only. One vendor
    has no known transfers, and one item staff described in English only."""
    site = await sites.create_site(name, [HOST], languages=("da", "sv", "en"),
                                   default_language="da", policy_url=f"http://{HOST}/cookies",
                                   force=True)
    for key in sorted({item[3] for item in ITEMS}):
        facts = KB.vendor(key)
        assert facts is not None
        await inventory.add_vendor(
            site, key=key, name=facts.name, country=facts.country or None,
            privacy_policy_url=facts.privacy_policy_url,
            transfers_outside_eea=facts.transfers_outside_eea,
            transfer_basis=facts.transfer_basis, description={"en": facts.description})
    await inventory.add_vendor(site, key="kursportalen", name="Kursportalen",
                               transfers_outside_eea=None)
    for name, match, kind, vendor, purpose in ITEMS:
        found = KB.match_storage(kind, name) if kind != "cookie" else KB.match_cookie(
            name if match == "exact" else name + "x")
        assert found is not None, name
        await inventory.add_item(
            site, name=name, match=match, kind=kind, vendor=vendor, purpose=purpose,
            duration_days=found.duration_days, party=found.party or "first",
            description={"en": found.description}, source="scan")
    await inventory.add_item(site, name="kp_widget", vendor="kursportalen",
                             purpose="preferences", party="third", duration_days=30,
                             description={"en": "Remembers the course you looked at last."})
    await publishing.publish(site)
    return site


def words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[^\W\d_]+", text)}


def english_only() -> set[str]:
    """Words of what an English row could say, less those Danish also uses (``Google``,
    ``ID``, ``session``) and the names of things."""
    english = set()
    for text in DEFAULT_TEXTS["en"].values():
        english |= words(text)
    danish = set()
    for text in DEFAULT_TEXTS["da"].values():
        danish |= words(text)
    for name, match, kind, vendor, _ in ITEMS:
        found = KB.match_storage(kind, name) if kind != "cookie" else KB.match_cookie(
            name if match == "exact" else name + "x")
        assert found is not None
        english |= words(found.description)
        danish |= words(found.describe("da")) | words(name) | words(kind)
        facts = KB.vendor(vendor)
        assert facts is not None
        danish |= words(facts.name) | words(facts.transfer_basis or "")
    english |= words("Remembers the course you looked at last. months years days hours "
                      "United States Not known First party Third party Until deleted")
    danish |= words("USA Kursportalen kp_widget localStorage sessionStorage måneder år dage "
                    "dag måned")
    return english - danish


async def declaration_rows(p: Page) -> list[str]:
    """Every row's text, each cell's column name (the narrow layout shows it) included."""
    rows = p.locator("[data-cmp-declaration] tbody tr")
    await rows.first.wait_for()
    texts: list[str] = await rows.evaluate_all(
        """(trs) => trs.map((tr) => [...tr.cells].map((td) =>
            (td.getAttribute('data-label') || '') + ' ' + td.innerText).join(' | '))""")
    return texts


async def test_a_danish_declaration_has_no_english_words_in_its_rows(
    server: CmpServer, host: HostServer, browser: Browser, shots: Path
) -> None:
    site = await server.call(scanned_site())
    tag = Tag(server.origin, site.key)
    body = "<h2>Cookies på Kursusgården</h2><div data-cmp-declaration></div>"
    english = english_only()
    assert {"not", "known", "first", "party", "months", "random", "written"} <= english
    for lang in ("da", "sv"):
        url = host.add(f"/cookies-{lang}/", page(tag, body, lang=lang, title="Cookies"))
        for width, height in WIDTHS.items():
            context = await browser.new_context(viewport={"width": width, "height": height},
                                                locale="da-DK")
            p = await context.new_page()
            errors: list[str] = []
            p.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            await p.goto(url)
            title = DEFAULT_TEXTS[lang]["title"]
            banner = p.get_by_role("region", name=title)
            await banner.wait_for()
            rows = await declaration_rows(p)
            assert len(rows) == len(ITEMS) + 1
            if lang == "da":
                seen = set().union(*(words(r) for r in rows))
                assert seen & english == set(), (width, sorted(seen & english))
                shown = "\n".join(rows)
                assert "Ukendt" in shown and "Not known" not in shown
                assert "Tilfældigt klient-ID" in shown  # _ga, from the knowledge base
                assert "Tredjepart" in shown and "Førstepart" in shown
                assert "Session" in shown and "måneder" in shown
                # No row claims another language, and the tables say they are Danish.
                assert await p.locator("[data-cmp-declaration] tr[lang]").count() == 0
                # The one staff described in English only is shown without a description.
                widget = next(r for r in rows if "kp_widget" in r)
                assert "Remembers" not in widget
                await fits(p, f"declaration da {width}")
            else:
                shown = "\n".join(rows)
                assert "Slumpmässigt klient-ID" in shown and "Okänt" in shown
                assert "Tredjepart" in shown and "Ukendt" not in shown
            await p.screenshot(path=str(shots / f"languages-banner-{lang}-{width}.png"))
            await banner.get_by_role("button", name=DEFAULT_TEXTS[lang]["reject_all"]).click()
            await banner.wait_for(state="detached")
            await p.screenshot(path=str(shots / f"languages-declaration-{lang}-{width}.png"),
                               full_page=True)
            await context.close()
            assert not errors, errors


async def test_the_demo_page_follows_the_visitor_and_switches_language(
    server: CmpServer, browser: Browser, demo: dict[str, Any], tmp_path: Path, shots: Path
) -> None:
    from cmp_server.demo import demo_routes, ensure_demo_site

    site, _ = await server.call(ensure_demo_site([CMP_HOST], tmp_path))
    demo["page"] = demo_routes(site.key)[0].endpoint
    url = f"{server.origin}/demo/"

    # A Danish browser gets the page, the banner and the declaration in Danish.
    context = await browser.new_context(locale="da-DK", viewport={"width": 320, "height": 568})
    p = await context.new_page()
    await p.goto(url)
    assert await p.locator("html").get_attribute("lang") == "da"
    await p.get_by_role("region", name=DEFAULT_TEXTS["da"]["title"]).wait_for()
    assert await p.get_by_role("heading", name="Cookiedeklaration").count() == 1
    await p.screenshot(path=str(shots / "languages-demo-da-320.png"))
    # The switch: each language named in itself; Svenska turns the whole page Swedish.
    switch = p.get_by_role("navigation", name="Sprog")
    assert await switch.get_by_role("link").all_inner_texts() == ["English", "Svenska", "Dansk"]
    assert await switch.get_by_role("link", name="Dansk").get_attribute("aria-current") == "true"
    await switch.get_by_role("link", name="Svenska").click()
    await p.wait_for_url("**/demo/?lang=sv")
    assert await p.locator("html").get_attribute("lang") == "sv"
    banner = p.get_by_role("region", name=DEFAULT_TEXTS["sv"]["title"])
    await banner.wait_for()
    await banner.get_by_role("button", name="Godkänn alla").click()
    # The declaration below is Swedish too, the demo's own Swedish descriptions included.
    rows = await declaration_rows(p)
    assert any("Sparar dina val om kakor." in r for r in rows)
    assert await p.locator("#prefs").inner_text() == "körs"
    await p.screenshot(path=str(shots / "languages-demo-sv-320.png"), full_page=True)
    await fits(p, "demo sv 320")
    await context.close()

    # Staff publish a Swedish title: an English visitor sees it through the switch.
    async def retitle() -> None:
        fresh = await Site.get(id=site.id)
        await drafts.edit_texts(fresh, "sv", {"title": "Kakor hos demoskolan"})
        await publishing.publish(fresh)

    await server.call(retitle())
    context = await browser.new_context(locale="en-GB")
    p = await context.new_page()
    await p.goto(url)
    assert await p.locator("html").get_attribute("lang") == "en"
    await p.get_by_role("region", name=DEFAULT_TEXTS["en"]["title"]).wait_for()
    await p.get_by_role("navigation", name="Language").get_by_role("link",
                                                                    name="Svenska").click()
    await p.get_by_role("region", name="Kakor hos demoskolan").wait_for()
    await p.screenshot(path=str(shots / "languages-demo-sv-1366.png"))
    # A language the site does not have is not taken: the browser's is.
    await p.goto(url + "?lang=de")
    assert await p.locator("html").get_attribute("lang") == "en"
    await context.close()


async def test_the_admin_shows_how_complete_each_language_is(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    email = "privacy@kursusgarden.example"

    async def prepare() -> None:
        site = await scanned_site("Kursusgården Admin")
        await drafts.edit_texts(site, "da", {"title": "Dit valg om cookies hos Kursusgården",
                                             "reject_all": "Nej tak til alle"})
        await staff.create_staff(email, PASSWORD, "privacy")

    await server.call(prepare())
    base = server.origin
    for width, height in WIDTHS.items():
        context = await browser.new_context(viewport={"width": width, "height": height})
        p = await context.new_page()
        await sign_in(p, base, email)
        card = p.get_by_role("region", name="Kursusgården Admin")
        languages = card.locator("dt", has_text="Languages").locator("xpath=..")
        shown = await languages.inner_text()
        n = len(DEFAULT_TEXTS["en"])
        assert f"Swedish: {n - 2} of {n} texts, 1 cookie without a Swedish description" in shown
        assert f"Danish: {n} of {n} texts, 1 cookie without a Danish description" in shown
        assert f"English: {n - 2} of {n} texts, all {len(ITEMS) + 1} cookies described" in shown
        await p.screenshot(path=str(shots / f"languages-dashboard-{width}.png"), full_page=True)
        await fits(p, f"dashboard {width}")
        await languages.get_by_role("link", name=re.compile("^Swedish")).click()
        section = p.get_by_role("region", name="Languages")
        await section.wait_for()
        assert await section.get_by_role("link", name=re.compile("^Swedish")).get_attribute(
            "aria-current") == "page"
        missing = await section.inner_text()
        assert "Missing in Swedish" in missing
        assert "First layer: Title" in missing and "First layer: Reject all button" in missing
        assert "kp_widget" in missing
        assert f"Danish: {n} of {n} texts, 1 cookie without a Danish description" in missing
        await section.screenshot(path=str(shots / f"languages-admin-banner-{width}.png"))
        await fits(p, f"banner languages {width}")
        await context.close()

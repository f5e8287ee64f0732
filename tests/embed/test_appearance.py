"""The banner's appearance in real Chromium: each layout on a 320×568 phone with a 600-character
Swedish first layer readable to its top and every button reachable; a first layer the lint
accepts fits without scrolling (the budget of ``services/banner_fit.py`` holds); the site's
colours, radius, font and logo applied; Accept all and Reject all alike; axe-core finding
nothing; screenshots of each layout at 320, 768 and 1366 px."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from cmp_server.defaults import DEFAULT_TEXTS
from cmp_server.models import Site
from cmp_server.schemas import Appearance
from cmp_server.services import appearance, drafts, publishing
from cmp_server.services.banner_fit import first_layer_fit

from ..factories import png_bytes
from ..test_appearance import SWEDISH_600
from .conftest import Visit, visiting
from .factories import Tag, page, published_site
from .servers import CmpServer, HostServer
from .test_accessibility import violations

LAYOUTS = ("corner", "bar", "dialog")
PHONE = {"width": 320, "height": 568}
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
LOOK: dict[str, Any] = {
    "colors": {"background": "#fff8e7", "text": "#2b2118", "link": "#0b5e2a",
               "primary": "#0b5e2a", "primary_text": "#ffffff",
               "secondary": "#fff8e7", "secondary_text": "#0b5e2a"},
    "buttons": {"customize": "secondary"},
    "radius": 14,
}
# The host page's own font: what `font: inherit` must show.
HOST_FONT = "<style>body { font-family: 'DejaVu Serif', serif; }</style>"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("CMP_TEST_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


async def styled_site(layout: str, *, description: str | None = None, logo: bool = False,
                      font: str = "system") -> Site:
    """``published_site()`` wearing ``LOOK`` in ``layout``, published without the lint (a long
    description is what the lint refuses, and what the embed must still show)."""
    site = await published_site()
    if description is not None:
        await drafts.edit_texts(site, "sv", {"description": description})
    await appearance.edit_appearance(site, {**LOOK, "layout": layout, "font": font})
    if logo:
        await appearance.upload_logo(site, png_bytes(120, 40))
    await publishing.publish(site)
    return site


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Visit]:
    async with visiting(browser, viewport=PHONE) as v:
        yield v


def within(rect: dict[str, float], width: float, height: float) -> bool:
    return (rect["top"] >= 0 and rect["left"] >= 0 and rect["bottom"] <= height + 0.5
            and rect["right"] <= width + 0.5)


async def shadow_eval(p: Page, script: str, arg: Any = None) -> Any:
    return await p.evaluate(
        "([s, a]) => { const root = [...document.querySelectorAll('*')]"
        ".find((e) => e.shadowRoot && e.shadowRoot.querySelector('.b')).shadowRoot;"
        " return new Function('root', 'a', s)(root, a); }", [script, arg])


async def measure(p: Page) -> dict[str, Any]:
    found: dict[str, Any] = await shadow_eval(p, """
        const b = root.querySelector('.b');
        const r = (el) => { const x = el.getBoundingClientRect();
            return {top: x.top, bottom: x.bottom, left: x.left, right: x.right,
                    width: x.width, height: x.height}; };
        return {box: r(b), scrollHeight: b.scrollHeight, clientHeight: b.clientHeight,
                title: r(root.querySelector('#cmp-t')),
                buttons: [...root.querySelectorAll('.k button')].map(r)};""")
    return found


async def hit(p: Page, rect: dict[str, float]) -> str | None:
    """The text of the banner's element under the middle of ``rect``: what a tap there hits."""
    found: str | None = await shadow_eval(p, """
        const el = root.elementFromPoint(a[0], a[1]);
        return el ? el.textContent : null;""",
        [(rect["left"] + rect["right"]) / 2, (rect["top"] + rect["bottom"]) / 2])
    return found


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_a_long_swedish_first_layer_is_readable_to_the_top_on_a_phone(
    phone: Visit, cmp: CmpServer, host: HostServer, path: str, shots: Path, layout: str
) -> None:
    """600 characters of Swedish on a 320×568 phone: the title at the top of the box and the
    three buttons pinned at its bottom, all in sight at once without scrolling anything; the
    text scrolls between them, and its last words come into view above the buttons."""
    site = await cmp.call(styled_site(layout, description=SWEDISH_600))
    tag = Tag(cmp.origin, site.key)
    await phone.page.goto(host.add(path, page(tag, lang="sv", head=VIEWPORT)))
    region = phone.page.get_by_role("region", name="Ditt val om kakor")
    await region.wait_for()
    await phone.page.wait_for_timeout(400)  # the slide-in animation
    shown = await measure(phone.page)
    await phone.page.screenshot(path=shots / f"banner-{layout}-320-long-top.png")
    # The box stays on the screen and scrolls inside itself: the text is longer than it.
    assert within(shown["box"], 320, 568), shown["box"]
    assert shown["scrollHeight"] > shown["clientHeight"] + 50
    # The title is on the screen, at the top of the box.
    assert within(shown["title"], 320, 568) and shown["title"]["top"] >= shown["box"]["top"]
    assert await phone.page.get_by_role("heading", name="Ditt val om kakor").is_visible()
    # Every button is on the screen inside the box, and is what a tap on it hits (no text
    # over it), with neither the page nor the box scrolled.
    names = ("Godkänn alla", "Avvisa alla", "Anpassa")
    for name, rect in zip(names, shown["buttons"], strict=True):
        assert within(rect, 320, 568) and rect["bottom"] <= shown["box"]["bottom"], name
        assert await hit(phone.page, rect) == name
    assert await phone.page.evaluate("window.scrollY") == 0
    # Scrolled to its end, the text's last line is above the buttons, which have not moved.
    end = await shadow_eval(phone.page, """
        const b = root.querySelector('.b'); b.scrollTop = b.scrollHeight;
        const d = root.querySelector('#cmp-d').getBoundingClientRect();
        const k = root.querySelector('.k').getBoundingClientRect();
        return {text: d.bottom, buttons: k.top, scrolled: b.scrollTop};""")
    assert end["scrolled"] > 50 and end["text"] <= end["buttons"] + 1, end
    # The policy link after the buttons comes into view at the end, and is what a tap hits.
    link = await shadow_eval(phone.page, """
        const r = root.querySelector('.b > a').getBoundingClientRect();
        return {top: r.top, bottom: r.bottom, left: r.left, right: r.right};""")
    assert within(link, 320, 568) and await hit(phone.page, link) == "Kakpolicy", link
    await phone.page.screenshot(path=shots / f"banner-{layout}-320-long-end.png")
    after = await measure(phone.page)
    for name, rect in zip(names, after["buttons"], strict=True):
        assert within(rect, 320, 568) and await hit(phone.page, rect) == name, name
    await shadow_eval(phone.page, "root.querySelector('.b').scrollTop = 0;")
    assert within((await measure(phone.page))["title"], 320, 568)
    # The keyboard reaches the buttons too, and choosing works.
    await region.get_by_role("button", name="Avvisa alla").click()
    await region.wait_for(state="detached")


def _fitting(layout: str, font: str, logo: bool) -> str:
    """The longest start of ``SWEDISH_600`` that the lint accepts for this look."""
    look = Appearance.model_validate({**LOOK, "layout": layout, "font": font, "logo": {
        "file": "0" * 64 + ".png", "width": 120, "height": 40} if logo else None})
    texts = dict(DEFAULT_TEXTS["sv"])
    best = ""
    for n in range(100, 601, 10):
        if first_layer_fit(look, {**texts, "description": SWEDISH_600[:n]}).fits:
            best = SWEDISH_600[:n].rstrip()
    assert len(best) >= 250
    return best


@pytest.mark.parametrize(("layout", "font", "logo"), [
    ("corner", "system", False), ("bar", "system", True), ("dialog", "inherit", True),
    ("corner", "inherit", True),
])
async def test_a_first_layer_the_lint_accepts_fits_a_phone_without_scrolling(
    phone: Visit, cmp: CmpServer, host: HostServer, path: str, layout: str, font: str,
    logo: bool,
) -> None:
    description = _fitting(layout, font, logo)
    site = await cmp.call(styled_site(layout, description=description, logo=logo, font=font))
    await phone.page.goto(host.add(path, page(Tag(cmp.origin, site.key), lang="sv",
                                              head=VIEWPORT + HOST_FONT)))
    await phone.page.get_by_role("region", name="Ditt val om kakor").wait_for()
    await phone.page.wait_for_timeout(400)
    if logo:
        await phone.page.wait_for_function(
            "() => [...document.querySelectorAll('*')].some((e) => e.shadowRoot &&"
            " e.shadowRoot.querySelector('img') && e.shadowRoot.querySelector('img').complete)")
    shown = await measure(phone.page)
    assert shown["scrollHeight"] <= shown["clientHeight"] + 1, (len(description), shown)
    for rect in (shown["box"], shown["title"], *shown["buttons"]):
        assert within(rect, 320, 568), rect


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_the_sites_look_is_applied(
    browser: Browser, cmp: CmpServer, host: HostServer, path: str, layout: str
) -> None:
    site = await cmp.call(styled_site(layout, logo=True, font="inherit"))
    url = host.add(path, page(Tag(cmp.origin, site.key), head=VIEWPORT + HOST_FONT))
    for width, height in ((320, 568), (1366, 768)):
        async with visiting(browser, viewport={"width": width, "height": height}) as v:
            await v.page.goto(url)
            await v.page.get_by_role("region", name="Your choice about cookies").wait_for()
            await v.page.wait_for_timeout(400)
            style = await shadow_eval(v.page, """
                const cs = (el) => getComputedStyle(el);
                const b = root.querySelector('.b');
                const [accept, reject, customize] = root.querySelectorAll('.k button');
                const img = root.querySelector('h2 img');
                const pick = (el) => ({bg: cs(el).backgroundColor, color: cs(el).color,
                    border: cs(el).borderTopColor, weight: cs(el).fontWeight,
                    width: el.getBoundingClientRect().width,
                    height: el.getBoundingClientRect().height});
                return {bg: cs(b).backgroundColor, color: cs(b).color,
                    radius: cs(b).borderTopLeftRadius,
                    font: cs(b).fontFamily, link: cs(root.querySelector('a')).color,
                    accept: pick(accept), reject: pick(reject), customize: pick(customize),
                    logo: img && {src: img.src, loaded: img.naturalWidth, alt: img.alt},
                    box: b.getBoundingClientRect().toJSON()};""")
            assert style["bg"] == "rgb(255, 248, 231)" and style["color"] == "rgb(43, 33, 24)"
            assert style["link"] == "rgb(11, 94, 42)"
            assert style["radius"] == ("0px" if layout == "bar" else "14px")
            assert "DejaVu Serif" in style["font"]  # the site's own font
            assert style["accept"]["bg"] == style["reject"]["bg"] == "rgb(11, 94, 42)"
            assert style["accept"]["color"] == "rgb(255, 255, 255)"
            assert style["customize"]["bg"] == "rgb(255, 248, 231)"
            assert style["customize"]["color"] == style["customize"]["border"] == "rgb(11, 94, 42)"
            # Accept all and Reject all: the same size and weight, in every layout and width.
            assert style["accept"]["weight"] == style["reject"]["weight"] == "700"
            for key in ("width", "height"):  # one grid: equal up to its subpixel rounding
                sizes = [style[k][key] for k in ("accept", "reject", "customize")]
                assert max(sizes) - min(sizes) < 0.1, (key, sizes)
            assert style["logo"]["src"] == f"{cmp.origin}/v1/logos/" + (
                await cmp.call(_logo_file(site)))
            assert style["logo"]["loaded"] == 120 and style["logo"]["alt"] == ""
            box = style["box"]
            assert box["left"] >= 0 and box["right"] <= width and box["bottom"] <= height
            if layout == "bar":
                assert box["left"] == 0 and box["right"] == width and box["bottom"] == height
            elif layout == "dialog":
                middle = (box["top"] + box["bottom"]) / 2
                assert abs(middle - height / 2) < 2
                assert abs((box["left"] + box["right"]) / 2 - width / 2) < 2
            else:
                assert box["left"] < width - box["right"] or width <= 640


async def _logo_file(site: Site) -> str:
    logo = appearance.draft_appearance(await Site.get(id=site.id)).logo
    assert logo is not None
    return logo.file


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_each_layout_has_no_axe_violations(
    browser: Browser, cmp: CmpServer, host: HostServer, path: str, layout: str
) -> None:
    site = await cmp.call(styled_site(layout, logo=True, description=SWEDISH_600))
    url = host.add(path, page(Tag(cmp.origin, site.key), lang="sv", head=VIEWPORT))
    for viewport in (PHONE, {"width": 1366, "height": 768}):
        async with visiting(browser, viewport=viewport) as v:
            await v.page.goto(url)
            await v.page.get_by_role("region", name="Ditt val om kakor").wait_for()
            await v.page.wait_for_timeout(400)
            assert await violations(v.page) == [], (layout, viewport)


async def test_screenshots_of_each_layout(
    browser: Browser, cmp: CmpServer, host: HostServer, path: str, shots: Path
) -> None:
    for layout in LAYOUTS:
        site = await cmp.call(styled_site(layout, logo=True))
        url = host.add(f"{path}{layout}/", page(Tag(cmp.origin, site.key), lang="sv",
                                                head=VIEWPORT))
        for width, height in ((320, 568), (768, 1024), (1366, 768)):
            async with visiting(browser, viewport={"width": width, "height": height}) as v:
                await v.page.goto(url)
                await v.page.get_by_role("region", name="Ditt val om kakor").wait_for()
                await v.page.wait_for_timeout(400)
                file = shots / f"banner-{layout}-{width}.png"
                await v.page.screenshot(path=file)
                assert file.stat().st_size > 1000
                wide = await v.page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width
        # The 600-character Swedish text on a phone: the banner scrolls inside itself.
        site = await cmp.call(styled_site(layout, logo=True, description=SWEDISH_600))
        url = host.add(f"{path}{layout}-long/", page(Tag(cmp.origin, site.key), lang="sv",
                                                     head=VIEWPORT))
        async with visiting(browser, viewport=PHONE) as v:
            await v.page.goto(url)
            await v.page.get_by_role("region", name="Ditt val om kakor").wait_for()
            await v.page.wait_for_timeout(400)
            await v.page.screenshot(path=shots / f"banner-{layout}-320-long.png")

"""axe-core (from npm, embed/node_modules) finds nothing on either layer, nor on a placeholder."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from .banner import banner, dialog
from .conftest import AXE, Visit
from .factories import Tag, page
from .servers import HostServer


async def violations(p: Page) -> list[dict[str, Any]]:
    assert AXE.exists(), f"{AXE} missing: run `npm ci` in embed/"
    await p.add_script_tag(path=str(AXE))
    result = await p.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations.map("
        "(v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target)})))"
    )
    return list(result)


async def test_first_layer_has_no_axe_violations(visit: Visit, host: HostServer, tag: Tag,
                                                 path: str) -> None:
    await visit.page.goto(host.add(path, page(tag)))
    await banner(visit.page).wait_for()
    await visit.page.get_by_role("button", name="Allow Marketing").wait_for()
    assert await violations(visit.page) == []


async def test_second_layer_has_no_axe_violations(visit: Visit, host: HostServer, tag: Tag,
                                                  path: str) -> None:
    await visit.page.goto(host.add(path, page(tag, lang="da")))
    await visit.page.get_by_role("button", name="Tilpas").click()
    prefs = visit.page.get_by_role("dialog")
    await prefs.wait_for()
    for summary in await prefs.locator("summary").all():
        await summary.click()  # open every vendor and cookie list
    assert await violations(visit.page) == []


async def test_floating_button_and_receipts_have_no_axe_violations(
    visit: Visit, host: HostServer, tag: Tag, path: str
) -> None:
    await visit.page.goto(host.add(path, page(tag)))
    await visit.page.get_by_role("button", name="Accept all").click()
    await visit.page.get_by_role("button", name="Cookie settings").wait_for()
    assert await violations(visit.page) == []
    await visit.page.get_by_role("button", name="Cookie settings").click()
    await dialog(visit.page).get_by_role("button", name="My consent receipts").click()
    await dialog(visit.page).get_by_role("listitem").first.wait_for()
    assert await violations(visit.page) == []


async def test_reduced_motion_turns_the_animation_off(visit: Visit, host: HostServer, tag: Tag,
                                                      path: str) -> None:
    await visit.page.emulate_media(reduced_motion="reduce")
    await visit.page.goto(host.add(path, page(tag)))
    await banner(visit.page).wait_for()
    assert await banner(visit.page).evaluate("(el) => getComputedStyle(el).animationName") == "none"
    await visit.page.emulate_media(reduced_motion="no-preference")
    assert await banner(visit.page).evaluate("(el) => getComputedStyle(el).animationName") != "none"

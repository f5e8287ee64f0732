"""Keyboard alone: focus moves into the banner, Reject all is two Tabs away, the dialog traps
focus."""

from __future__ import annotations

from .banner import banner, dialog, focused, poll
from .conftest import Visit
from .factories import Tag, page
from .servers import CmpServer, HostServer

FOCUS_IN_REGION = """(() => { const h = document.querySelector('cmp-banner');
    const a = h && h.shadowRoot.activeElement;
    return !!a && a.getAttribute('role') === 'region'; })()"""


async def test_keyboard_reject_within_two_tabs(visit: Visit, host: HostServer, tag: Tag,
                                               path: str, cmp: CmpServer) -> None:
    await visit.page.goto(host.add(path, page(tag)))
    await banner(visit.page).wait_for()
    # Focus moves into the banner once it has been painted.
    assert await poll(visit.page, FOCUS_IN_REGION)
    await visit.page.keyboard.press("Tab")
    await visit.page.keyboard.press("Tab")
    assert await focused(visit.page) == "Reject all"
    await visit.page.keyboard.press("Enter")
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    assert row["method"] == "reject_all"
    assert await banner(visit.page).count() == 0


async def test_keyboard_accept(visit: Visit, host: HostServer, tag: Tag, path: str,
                               cmp: CmpServer) -> None:
    await visit.page.goto(host.add(path, page(tag)))
    await banner(visit.page).wait_for()
    assert await poll(visit.page, FOCUS_IN_REGION)
    await visit.page.keyboard.press("Tab")
    assert await focused(visit.page) == "Accept all"
    await visit.page.keyboard.press("Space")
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    assert row["method"] == "accept_all"


async def test_keyboard_customize_with_focus_trap_and_escape(
    visit: Visit, host: HostServer, tag: Tag, path: str, cmp: CmpServer
) -> None:
    kb = visit.page.keyboard
    await visit.page.goto(host.add(path, page(tag)))
    await banner(visit.page).wait_for()
    assert await poll(visit.page, FOCUS_IN_REGION)
    for _ in range(3):
        await kb.press("Tab")
    assert await focused(visit.page) == "Customize"
    await kb.press("Enter")
    await dialog(visit.page).wait_for()
    assert await dialog(visit.page).get_attribute("aria-modal") == "true"
    assert await focused(visit.page) == "dialog"

    # Escape goes back to the first layer, focus at once in it; the choice is still open.
    await kb.press("Escape")
    assert await dialog(visit.page).count() == 0
    assert await banner(visit.page).count() == 1
    assert await focused(visit.page) == "region"
    for _ in range(3):
        await kb.press("Tab")
    await kb.press("Enter")
    await dialog(visit.page).wait_for()

    # Tab order inside the dialog, and around again: focus never leaves it.
    seen = []
    for _ in range(40):
        await kb.press("Tab")
        seen.append(await focused(visit.page))
    first_round = seen[: seen.index("Close", 1)] if seen.count("Close") > 1 else seen
    assert "Close" in seen and "Statistics" in seen and "Save my choices" in seen
    assert "Change cookie choices" not in seen and "Host page" not in seen
    assert seen[len(first_round)] == "Close"  # wrapped around to the top

    # Shift+Tab from the first element goes to the last.
    while await focused(visit.page) != "Close":
        await kb.press("Tab")
    await kb.press("Shift+Tab")
    assert await focused(visit.page) == seen[len(first_round) - 1]

    # Tick statistics with Space and save with Enter.
    while await focused(visit.page) != "Statistics":
        await kb.press("Tab")
    await kb.press("Space")
    while await focused(visit.page) != "Save my choices":
        await kb.press("Tab")
    await kb.press("Enter")
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    assert (row["method"], row["layer"]) == ("custom", "second")
    assert row["choices"]["statistics"] is True and row["choices"]["marketing"] is False


async def test_reopen_from_the_floating_button_and_focus_returns(
    visit: Visit, host: HostServer, tag: Tag, path: str
) -> None:
    kb = visit.page.keyboard
    await visit.page.goto(host.add(path, page(tag)))
    await visit.page.get_by_role("button", name="Accept all").click()
    await visit.page.get_by_role("button", name="Cookie settings").focus()
    await kb.press("Enter")
    await dialog(visit.page).wait_for()
    # A returning visitor's switches show their current choices.
    assert await dialog(visit.page).get_by_role("switch", name="Marketing").is_checked()
    await kb.press("Escape")
    assert await dialog(visit.page).count() == 0
    assert await focused(visit.page) == "Cookie settings"


# Clicks "Reject all" in the very animation frame the banner first shows up in.
FIRST_FRAME_CLICK = """(() => {
  const tick = () => {
    const h = document.querySelector('cmp-banner');
    const b = h && h.shadowRoot && h.shadowRoot.querySelectorAll('.k button')[1];
    if (b && b.getBoundingClientRect().height > 0) { window.clickedAt = performance.now();
      b.click(); return; }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();"""


async def test_buttons_work_from_the_first_visible_frame(
    visit: Visit, host: HostServer, tag: Tag, path: str, cmp: CmpServer
) -> None:
    await visit.context.add_init_script(FIRST_FRAME_CLICK)
    await visit.page.goto(host.add(path, page(tag)))
    assert await poll(visit.page, "window.clickedAt !== undefined")
    assert await visit.page.evaluate("window.cmp.getConsent().method") == "reject_all"
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    assert row["method"] == "reject_all"

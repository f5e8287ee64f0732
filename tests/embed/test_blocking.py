"""Blocked scripts and iframes: inert before consent, run in document order on consent."""

from __future__ import annotations

from .conftest import Visit
from .factories import Tag, page
from .servers import CmpServer, HostServer

RAN = "window.ran || []"


async def test_nothing_blocked_runs_before_consent(visit: Visit, host: HostServer, tag: Tag,
                                                   path: str) -> None:
    url = host.add(path, page(tag))
    await visit.page.goto(url)
    await visit.page.get_by_role("region", name="Your choice about cookies").wait_for()
    await visit.page.wait_for_timeout(400)
    assert await visit.page.evaluate(RAN) == []
    assert await visit.page.evaluate("document.querySelector('iframe').getAttribute('src')") is None
    assert not [r for r in host.requests if r.startswith(path) and ("stats-2" in r or "=ad" in r)]
    # A placeholder stands in for the iframe, offering to allow its purpose.
    await visit.page.get_by_role("button", name="Allow Marketing").wait_for()
    assert await visit.page.evaluate("document.cookie") == ""


async def test_accept_runs_scripts_and_iframes_in_document_order_without_reload(
    visit: Visit, host: HostServer, tag: Tag, path: str
) -> None:
    url = host.add(path, page(tag))
    await visit.page.goto(url)
    await visit.page.evaluate("window.marker = 'same document'")
    await visit.page.get_by_role("button", name="Accept all").click()
    await visit.page.wait_for_function("(window.ran || []).length === 4")
    assert await visit.page.evaluate(RAN) == ["stats-1", "stats-2", "stats-3", "marketing"]
    assert await visit.page.evaluate("window.marker") == "same document"
    frame = visit.page.frame_locator("iframe[title='Advertising frame']")
    await frame.locator("#frame").wait_for()
    assert await visit.page.get_by_role("button", name="Allow Marketing").count() == 0
    # Later page views run them while the page loads, without a banner.
    await visit.page.reload()
    await visit.page.wait_for_function("(window.ran || []).length === 4")
    # The floating button stands where the banner would be: shown at the same point.
    await visit.page.get_by_role("button", name="Cookie settings").wait_for()
    assert await visit.page.get_by_role("region", name="Your choice about cookies").count() == 0


async def test_reject_keeps_them_blocked(visit: Visit, host: HostServer, tag: Tag,
                                         path: str) -> None:
    url = host.add(path, page(tag))
    await visit.page.goto(url)
    await visit.page.get_by_role("button", name="Reject all").click()
    await visit.page.wait_for_timeout(500)
    assert await visit.page.evaluate(RAN) == []
    await visit.page.reload()
    await visit.page.wait_for_load_state("load")
    await visit.page.wait_for_timeout(300)
    assert await visit.page.evaluate(RAN) == []
    assert not [r for r in host.requests if path in r and "stats-2" in r]


async def test_elements_added_later_are_handled(visit: Visit, host: HostServer, tag: Tag,
                                                path: str) -> None:
    url = host.add(path, page(tag, body=""))
    await visit.page.goto(url)
    add = """(cat) => {
        const s = document.createElement('script');
        s.type = 'text/plain';
        s.setAttribute('data-cmp-category', cat);
        s.text = '(window.ran = window.ran || []).push("late-' + cat + '")';
        document.body.appendChild(s);
    }"""
    await visit.page.evaluate(add, "statistics")
    await visit.page.wait_for_timeout(200)
    assert await visit.page.evaluate(RAN) == []
    await visit.page.evaluate("window.cmp.setConsent({statistics: true})")
    await visit.page.wait_for_function("(window.ran || []).length === 1")
    # Granted already: an element added now runs at once; a refused purpose's does not.
    await visit.page.evaluate(add, "statistics")
    await visit.page.evaluate(add, "marketing")
    await visit.page.wait_for_function("(window.ran || []).length === 2")
    await visit.page.wait_for_timeout(200)
    assert await visit.page.evaluate(RAN) == ["late-statistics", "late-statistics"]


async def test_placeholder_button_allows_the_iframe(visit: Visit, host: HostServer, tag: Tag,
                                                    path: str, cmp: CmpServer) -> None:
    url = host.add(path, page(tag))
    await visit.page.goto(url)
    await visit.page.get_by_role("button", name="Allow Marketing").click()
    await visit.page.frame_locator("iframe[title='Advertising frame']").locator("#frame").wait_for()
    assert await visit.page.evaluate("window.cmp.hasConsent('marketing')") is True
    assert await visit.page.evaluate("window.cmp.hasConsent('statistics')") is False
    rows = await cmp.wait_receipts(tag.site_key, 1)
    assert [(r["method"], r["choices"]["marketing"], r["choices"]["statistics"]) for r in rows] == [
        ("custom", True, False)
    ]

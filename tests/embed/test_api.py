"""`window.cmp` and the `cmp:consent` event: what integrators and the scanner use."""

from __future__ import annotations

from .banner import banner, dialog
from .conftest import Visit
from .factories import Tag, page
from .servers import CmpServer, HostServer

LISTEN = """<script>
  window.events = [];
  document.addEventListener('cmp:consent', (e) => events.push(['dom', e.detail.method,
    e.detail.consent.choices.statistics]));
  window.cmp.on('change', (c) => events.push(['on', c.method, c.choices.statistics]));
</script>"""


async def test_window_cmp_api(visit: Visit, host: HostServer, tag: Tag, path: str,
                              cmp: CmpServer) -> None:
    p = visit.page
    # No blocked scripts: withdrawing does not reload the page (test_withdrawal.py).
    await p.goto(host.add(path, page(tag, head=LISTEN, body="")))
    await banner(p).wait_for()
    assert await p.evaluate("window.cmp.getConsent()") is None
    assert await p.evaluate("window.cmp.hasConsent('necessary')") is True
    assert await p.evaluate("window.cmp.hasConsent('statistics')") is False

    consent = await p.evaluate("window.cmp.acceptAll()")
    assert consent["choices"] == {"necessary": True, "preferences": True, "statistics": True,
                                  "marketing": True}
    assert consent["method"] == "accept_all" and consent["version"] == 1
    assert await banner(p).count() == 0
    await p.evaluate("window.cmp.rejectAll()")
    assert await p.evaluate("window.cmp.hasConsent('statistics')") is False
    await p.evaluate("window.cmp.setConsent({statistics: true, unknown: true})")
    assert await p.evaluate("window.cmp.hasConsent('statistics')") is True
    assert await p.evaluate("window.cmp.hasConsent('marketing')") is False
    assert await p.evaluate("window.events") == [
        ["dom", "accept_all", True], ["on", "accept_all", True],
        ["dom", "withdraw", False], ["on", "withdraw", False],
        ["dom", "custom", True], ["on", "custom", True],
    ]
    rows = await cmp.wait_receipts(tag.site_key, 3)
    assert [r["method"] for r in rows] == ["accept_all", "withdraw", "custom"]

    await p.evaluate("window.cmp.open()")
    await dialog(p).wait_for()
    # A choice through the API while the second layer is open counts as given there.
    await p.evaluate("window.cmp.rejectAll()")
    assert await dialog(p).count() == 0
    rows = await cmp.wait_receipts(tag.site_key, 4)
    assert (rows[3]["method"], rows[3]["layer"]) == ("withdraw", "second")


async def test_api_never_throws_into_the_page(visit: Visit, host: HostServer, tag: Tag,
                                              path: str) -> None:
    p = visit.page
    # No blocked scripts: rejectAll after acceptAll does not reload the page, which Playwright
    # could not close while the reload is under way (test_withdrawal.py tests the reload).
    await p.goto(host.add(path, page(tag, body="")))
    results = await p.evaluate("""() => {
        const out = [];
        for (const call of [
            () => window.cmp.setConsent(null),
            () => window.cmp.hasConsent(undefined),
            () => window.cmp.on('nope', 1),
            () => window.cmp.on('change', () => { throw new Error('listener bug'); }),
            () => window.cmp.acceptAll(),
        ]) {
            try { call(); out.push('ok'); } catch (e) { out.push(String(e)); }
        }
        return out;
    }""")
    assert results == ["ok"] * 5
    # The unsubscribe function works.
    assert await p.evaluate("""() => {
        let n = 0;
        const off = window.cmp.on('change', () => n++);
        window.cmp.rejectAll();
        off();
        window.cmp.acceptAll();
        return n;
    }""") == 1

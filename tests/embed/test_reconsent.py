"""Asked again when purposes or vendors change, or the choice expired; not for a text fix."""

from __future__ import annotations

from cmp_server.services import inventory, publishing, sites

from .banner import banner, consent_cookie
from .conftest import Visit
from .factories import Tag, page
from .servers import CmpServer, HostServer


async def test_reconsent_after_material_publish_but_not_after_text_fix(
    visit: Visit, host: HostServer, tag: Tag, path: str, cmp: CmpServer
) -> None:
    url = host.add(path, page(tag))
    await visit.page.goto(url)
    await visit.page.get_by_role("button", name="Accept all").click()
    first = await consent_cookie(visit.page)
    assert first is not None and first["version"] == 1

    async def text_fix() -> None:
        site = await sites.get_site(tag.site_key)
        await sites.update_site(site, texts={"en": {"title": "Your choice about cookies!"}})
        await publishing.publish(site)

    await cmp.call(text_fix())
    # cmp.js is cacheable for minutes; a new URL stands for "after the cache lifetime".
    host.add(path, page(Tag(tag.origin, tag.site_key, bust="2")))
    await visit.page.goto(url)
    await visit.page.wait_for_load_state("load")
    assert await visit.page.evaluate("window.cmp.hasConsent('marketing')") is True
    # The floating button stands where the banner would be: shown at the same point.
    await visit.page.get_by_role("button", name="Cookie settings").wait_for()
    assert await banner(visit.page).count() == 0
    assert await visit.page.get_by_role("region", name="Your choice about cookies!").count() == 0

    async def new_vendor() -> None:
        site = await sites.get_site(tag.site_key)
        await inventory.add_vendor(site, key="hotjar", name="Hotjar", country="MT")
        await inventory.add_item(site, name="_hjid", purpose="statistics", vendor="hotjar",
                                 duration_days=365)
        await publishing.publish(site)

    await cmp.call(new_vendor())
    host.add(path, page(Tag(tag.origin, tag.site_key, bust="3")))
    await visit.page.goto(url)
    await visit.page.get_by_role("region", name="Your choice about cookies!").wait_for()
    assert await visit.page.evaluate("window.cmp.hasConsent('marketing')") is False
    assert await visit.page.evaluate("window.cmp.getConsent()") is None
    await visit.page.get_by_role("button", name="Reject all").click()
    rows = await cmp.wait_receipts(tag.site_key, 2)
    assert [(r["method"], r["config_version"]) for r in rows] == [("accept_all", 1),
                                                                   ("reject_all", 3)]
    assert rows[1]["consent_id"] == rows[0]["consent_id"]  # same browser, same id


async def test_reconsent_after_expiry(visit: Visit, host: HostServer, tag: Tag, path: str) -> None:
    url = host.add(path, page(tag))
    await visit.page.goto(url)
    await visit.page.get_by_role("button", name="Accept all").click()
    stored = await consent_cookie(visit.page)
    assert stored is not None
    # The cookie outlives the choice here (e.g. the lifetime was shortened since).
    stored["updated_at"] -= 181 * 86400
    await visit.page.evaluate(
        "(v) => { document.cookie = 'cmp_consent=' + encodeURIComponent(JSON.stringify(v))"
        " + '; path=/; max-age=3600'; }",
        stored,
    )
    await visit.page.goto(url)
    await banner(visit.page).wait_for()
    assert await visit.page.evaluate("window.cmp.hasConsent('statistics')") is False
    assert await visit.page.evaluate("window.ran || []") == []

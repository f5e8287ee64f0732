"""The second layer: under each purpose, its vendors with country and transfer notice, and its
cookies and storage keys with their durations (from the published inventory)."""

from __future__ import annotations

from cmp_server.models import Site
from cmp_server.services import inventory, publishing

from .banner import dialog
from .conftest import Visit
from .factories import Tag, page, published_site
from .servers import CmpServer, HostServer


async def site_with_a_vendor_that_stays_in_the_eea() -> Site:
    site = await published_site()
    await inventory.add_vendor(site, key="matomo", name="Matomo (own server)", country="SE",
                               transfers_outside_eea=False)
    await inventory.add_item(site, name="_pk_id.", match="prefix", purpose="statistics",
                             vendor="matomo", duration_days=393)
    await publishing.publish(site)
    return site


async def test_each_purpose_lists_its_vendors_and_cookies(visit: Visit, host: HostServer,
                                                          cmp: CmpServer, path: str) -> None:
    site = await cmp.call(site_with_a_vendor_that_stays_in_the_eea())
    await visit.page.goto(host.add(path, page(Tag(cmp.origin, site.key))))
    await visit.page.get_by_role("button", name="Customize").click()
    prefs = dialog(visit.page)
    await prefs.wait_for()

    async def listed(purpose: str) -> list[str]:
        section = prefs.locator(".pu", has=visit.page.get_by_role("switch", name=purpose))
        await section.locator("summary").click()
        return await section.locator("details li").all_inner_texts()

    assert await listed("Statistics") == [
        "Google (US, Data may be transferred outside the EU/EEA: EU-US Data Privacy Framework)",
        "Matomo (own server) (SE)",  # known to stay in the EEA: no notice
        "_ga Google · 400 days · Tells visitors apart.",
        "_ga_* Google · 400 days",
        "_pk_id.* Matomo (own server) · 393 days",
        "stats_* Google",
    ]
    # Meta's transfers are not known (added without them): told as a possible transfer.
    assert await listed("Marketing") == [
        "Meta Platforms (US, Data may be transferred outside the EU/EEA)",
        "_fbp Meta Platforms · 90 days",
    ]
    assert await listed("Preferences") == ["sess_pref Session"]

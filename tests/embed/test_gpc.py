"""Global Privacy Control: marketing stays off, the banner says so, the receipt records it."""

from __future__ import annotations

from .banner import banner, data_layer
from .conftest import Visit
from .factories import Tag, page
from .servers import CmpServer, HostServer

GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"


async def test_gpc_keeps_marketing_off_and_is_recorded(visit: Visit, host: HostServer, tag: Tag,
                                                       path: str, cmp: CmpServer) -> None:
    await visit.context.add_init_script(GPC)
    await visit.page.goto(host.add(path, page(tag)))
    await banner(visit.page).get_by_text("Global Privacy Control signal").wait_for()
    await visit.page.get_by_role("button", name="Accept all").click()
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    assert row["method"] == "gpc"
    assert row["choices"] == {"necessary": True, "preferences": True, "statistics": True,
                              "marketing": False}
    await visit.page.wait_for_function("(window.ran || []).length === 3")
    await visit.page.wait_for_timeout(100)
    assert await visit.page.evaluate("window.ran") == ["stats-1", "stats-2", "stats-3"]
    layer = await data_layer(visit.page)
    update = [x for x in layer if isinstance(x, list) and x[:2] == ["consent", "update"]][-1]
    assert update[2]["ad_storage"] == "denied" and update[2]["analytics_storage"] == "granted"


async def test_without_gpc_there_is_no_notice(visit: Visit, host: HostServer, tag: Tag,
                                              path: str) -> None:
    await visit.page.goto(host.add(path, page(tag)))
    await banner(visit.page).wait_for()
    assert await banner(visit.page).get_by_text("Global Privacy Control").count() == 0


async def test_an_explicit_opt_in_overrides_gpc(visit: Visit, host: HostServer, tag: Tag,
                                                path: str, cmp: CmpServer) -> None:
    await visit.context.add_init_script(GPC)
    await visit.page.goto(host.add(path, page(tag)))
    await visit.page.get_by_role("button", name="Customize").click()
    await visit.page.get_by_role("switch", name="Marketing").check()
    await visit.page.get_by_role("button", name="Save my choices").click()
    [row] = await cmp.wait_receipts(tag.site_key, 1)
    assert (row["method"], row["choices"]["marketing"]) == ("custom", True)

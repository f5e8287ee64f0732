"""The dashboard (``admin/dashboard.py``, ``services/attention.py``): per site what needs
attention, counted by the database."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from cmp_server.services import attention, drafts, inventory, sites

from ..factories import published_site, send_receipt, staff_member
from ._client import sign_in


async def test_each_site_says_what_needs_attention(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site("Kursgården")
    calm = await sites.create_site("Fjord", ["fjord.example"], force=True)
    from cmp_server.services import publishing

    await publishing.publish(calm)
    for name in ("_hjSessionUser_1", "ab_variant"):
        await inventory.add_item(site, name=name, source="scan", review_status="unreviewed")
    await drafts.edit_texts(site, "sv", {"title": "Kakor hos oss"})
    every = {"necessary": True, "preferences": True, "statistics": True, "marketing": True}
    none = {**dict.fromkeys(every, False), "necessary": True}
    for method, choices in (("accept_all", every), ("accept_all", every),
                            ("reject_all", none), ("custom", {**none, "statistics": True})):
        await send_receipt(client, site.key, method=method, choices=choices)

    (first, second) = await attention.attention([site, calm])
    assert (first.unreviewed, first.unmapped) == (2, 2)
    assert first.draft_changed and first.published == 1
    assert first.consents.total == 4
    assert (first.consents.accept_rate, first.consents.reject_rate) == (0.5, 0.25)
    assert first.scans.never_scanned and first.needs_attention
    assert not second.draft_changed and second.consents.total == 0
    assert second.unreviewed == 0 and not second.needs_attention

    viewer = await staff_member("viewer")
    await sign_in(client, viewer.email)
    page = (await client.get("/admin/")).text
    assert "2 to review" in page and "2 without a purpose" in page
    assert "draft differs from version 1" in page and "version 1 is the draft" in page
    assert "accept all 50 %, reject all 25 %" in page
    assert page.count("Needs attention") == 1 and page.count("All in order") == 1

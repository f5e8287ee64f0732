"""The appearance editor (``admin/appearance.py``) through HTTP: roles, errors beside their
fields, the checks fragment, the framed preview wearing unsaved values, the logo's upload and
its bounds."""

from __future__ import annotations

import re

import httpx
import orjson
from starlette.applications import Starlette

from cmp_server.models import AuditEntry, Logo, Site
from cmp_server.services import appearance

from ..factories import png_bytes, published_site, staff_member
from ._client import sign_in, token_of

LOOK = {
    "layout": "bar", "radius": "4", "font": "inherit",
    "color_background": "#FFF8E7", "color_text": "#1b1b1b", "color_link": "#0b5e2a",
    "color_primary": "#0b5e2a", "color_primary_text": "#ffffff",
    "color_secondary": "#ffffff", "color_secondary_text": "#0b5e2a",
    "button_accept_all": "primary", "button_reject_all": "primary",
    "button_customize": "secondary",
}


async def signed_in(client: httpx.AsyncClient, role: str) -> str:
    member = await staff_member(role)
    await sign_in(client, member.email)
    return member.email


async def test_a_viewer_sees_the_editor_and_cannot_change_it(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/appearance")
    assert page.status_code == 200
    assert "Editing needs the privacy role" in page.text
    assert 'name="color_background" type="color" value="#ffffff"' in page.text
    assert f'src="/admin/sites/{site.key}/preview?frame=1"' in page.text
    token = await token_of(client, f"/admin/sites/{site.key}/appearance")
    refused = await client.post(f"/admin/sites/{site.key}/appearance",
                                data={**LOOK, "csrf_token": token})
    assert refused.status_code == 403
    upload = await client.post(f"/admin/sites/{site.key}/appearance/logo",
                               data={"csrf_token": token},
                               files={"logo": ("logo.png", png_bytes(10, 10), "image/png")})
    assert upload.status_code == 403
    assert (await Site.get(id=site.id)).appearance is None
    assert not await Logo.exists()


async def test_privacy_saves_the_look_and_it_is_audited(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    email = await signed_in(client, "privacy")
    token = await token_of(client, f"/admin/sites/{site.key}/appearance")
    saved = await client.post(f"/admin/sites/{site.key}/appearance",
                              data={**LOOK, "csrf_token": token})
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/admin/sites/{site.key}/appearance?saved=look"
    look = appearance.draft_appearance(await Site.get(id=site.id))
    assert (look.layout, look.radius, look.font) == ("bar", 4, "inherit")
    assert look.colors.background == "#fff8e7" and look.buttons.customize == "secondary"
    entry = await AuditEntry.get(action="banner.appearance")
    assert entry.actor == email and entry.after["layout"] == "bar"
    page = await client.get(saved.headers["location"])
    assert "The appearance is saved in the draft" in page.text
    assert 'value="bar" checked' in page.text and 'value="#fff8e7"' in page.text
    assert "No problems: the colours are readable" in page.text
    publish = await client.get(f"/admin/sites/{site.key}/publish")
    assert "appearance.layout" in publish.text


async def test_bad_values_come_back_beside_their_fields(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    token = await token_of(client, f"/admin/sites/{site.key}/appearance")
    bad = {**LOOK, "color_text": "red", "radius": "99", "layout": "<script>x</script>"}
    r = await client.post(f"/admin/sites/{site.key}/appearance", data={**bad, "csrf_token": token})
    assert r.status_code == 422
    assert 'id="e-color_text">A colour as #rrggbb, like #1d3f72.' in r.text
    assert 'id="e-radius">A whole number of pixels from 0 to 24.' in r.text
    assert "Choose one of the layouts." in r.text
    assert "<script>x</script>" not in r.text
    assert (await Site.get(id=site.id)).appearance is None


async def test_the_checks_follow_the_unsaved_values(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "viewer")
    check = f"/admin/sites/{site.key}/appearance/check"
    fine = await client.get(check, params=LOOK)
    assert fine.status_code == 200 and "No problems" in fine.text
    grey = await client.get(check, params={**LOOK, "color_text": "#aaaaaa"})
    assert "the text (#aaaaaa on #fff8e7) have a contrast of" in grey.text
    assert "WCAG AA asks at least 4.5:1" in grey.text
    unequal = await client.get(check, params={**LOOK, "button_reject_all": "secondary",
                                              "color_secondary": "#eeeeee"})
    assert "Accept all is a primary button and Reject all a secondary one" in unequal.text
    # Nothing was saved by looking.
    assert (await Site.get(id=site.id)).appearance is None


async def test_the_framed_preview_wears_the_unsaved_look(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "viewer")
    framed = await client.get(f"/admin/sites/{site.key}/preview",
                              params={"frame": "1", **LOOK})
    assert framed.status_code == 200
    assert "frame-ancestors 'self'" in framed.headers["content-security-policy"]
    assert framed.headers["x-frame-options"] == "SAMEORIGIN"
    assert 'class="preview-bar"' not in framed.text  # the sample page and the banner only
    src = re.search(r'<script src="([^"]+/preview/cmp\.js[^"]*)"', framed.text)
    assert src is not None and "layout=bar" in src[1] and "csrf" not in src[1]
    script = await client.get(src[1].replace("&amp;", "&"))
    inlined = orjson.loads(re.search(rb'\{"appearance".*?\}\}', script.content)[0] + b"}")
    assert inlined["appearance"]["layout"] == "bar"
    assert inlined["appearance"]["colors"]["background"] == "#fff8e7"
    # Every other admin page, the unframed preview included, may not be framed at all.
    for path in (f"/admin/sites/{site.key}/preview", f"/admin/sites/{site.key}/appearance"):
        page = await client.get(path)
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"], path
        assert page.headers["x-frame-options"] == "DENY", path
    # A look that is not one: the preview shows the draft as saved.
    odd = await client.get(f"/admin/sites/{site.key}/preview/cmp.js",
                           params={**LOOK, "color_text": "javascript:alert(1)"})
    assert odd.status_code == 200 and b'"appearance"' not in odd.content


async def test_a_logo_is_uploaded_shown_and_removed(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    path = f"/admin/sites/{site.key}/appearance"
    token = await token_of(client, path)
    up = await client.post(f"{path}/logo", data={"csrf_token": token},
                           files={"logo": ("logo.bin", png_bytes(120, 40), "text/plain")})
    assert up.status_code == 303 and up.headers["location"].endswith("?saved=logo")
    logo = appearance.draft_appearance(await Site.get(id=site.id)).logo
    assert logo is not None and (logo.width, logo.height) == (120, 40)
    page = await client.get(up.headers["location"])
    assert f'src="/v1/logos/{logo.file}"' in page.text
    served = await client.get(f"/v1/logos/{logo.file}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    refused = await client.post(f"{path}/logo", data={"csrf_token": token},
                                files={"logo": ("logo.png", svg, "image/png")})
    assert refused.status_code == 422
    assert "SVG logos are not taken" in refused.text
    gone = await client.post(f"{path}/logo/remove", data={"csrf_token": token})
    assert gone.status_code == 303
    assert appearance.draft_appearance(await Site.get(id=site.id)).logo is None


async def test_an_upload_too_large_is_refused_before_it_is_parsed(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    path = f"/admin/sites/{site.key}/appearance"
    token = await token_of(client, path)
    big = png_bytes(1, 1) + b"\x00" * (appearance.MAX_LOGO_BYTES + 9 * 1024)
    r = await client.post(f"{path}/logo", data={"csrf_token": token},
                          files={"logo": ("logo.png", big, "image/png")})
    assert r.status_code == 413
    # Sent without a length, a byte count finds it too.
    async def chunks() -> object:
        yield b"--x\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"a.png\"\r\n\r\n"
        for _ in range(20):
            yield b"\x00" * 8192
    streamed = await client.post(
        f"{path}/logo", content=chunks(),  # type: ignore[arg-type]
        headers={"content-type": "multipart/form-data; boundary=x", "x-csrf-token": token})
    assert streamed.status_code == 413
    # Just under the logo's limit, the file is read and refused by its size in words.
    near = png_bytes(1, 1) + b"\x00" * appearance.MAX_LOGO_BYTES
    words = await client.post(f"{path}/logo", data={"csrf_token": token},
                              files={"logo": ("logo.png", near, "image/png")})
    assert words.status_code == 422 and "at most 100 KB" in words.text
    assert not await Logo.exists()
    no_token = await client.post(f"{path}/logo",
                                 files={"logo": ("logo.png", png_bytes(2, 2), "image/png")})
    assert no_token.status_code == 403 and not await Logo.exists()

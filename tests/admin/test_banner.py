"""The banner editor and the preview (``admin/banner.py``) through HTTP: roles, the forms'
errors beside their fields, escaping, the preview's script."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from cmp_server.models import AuditEntry, Purpose, Site

from ..factories import published_site, staff_member
from ._client import sign_in, token_of

PAYLOAD = '<script>window.pwned=1</script><img src=x onerror="window.pwned=1">'


async def signed_in(client: httpx.AsyncClient, role: str) -> str:
    member = await staff_member(role)
    await sign_in(client, member.email)
    return member.email


async def post(client: httpx.AsyncClient, path: str, data: dict[str, str],
               **kwargs: object) -> httpx.Response:
    token = await token_of(client)
    return await client.post(path, data={**data, "csrf_token": token}, **kwargs)  # type: ignore[arg-type]


async def test_a_viewer_sees_the_editor_read_only_and_cannot_edit(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/banner", params={"lang": "sv"})
    assert page.status_code == 200
    assert 'value="Ditt val om kakor"' in page.text
    assert "Editing needs the privacy role" in page.text
    assert "Save the sv texts" not in page.text and "Add the purpose" not in page.text
    assert "The draft is unchanged since version 1 was published" in page.text
    refused = await post(client, f"/admin/sites/{site.key}/banner",
                         {"language": "sv", "text-title": "Hacked"})
    assert refused.status_code == 403
    for path in ("banner/purposes", "banner/purposes/statistics",
                 "banner/purposes/statistics/move", "banner/purposes/statistics/remove"):
        r = await post(client, f"/admin/sites/{site.key}/{path}",
                       {"language": "en", "key": "x", "name": "x", "direction": "up"})
        assert r.status_code == 403, path
    assert (await Site.get(id=site.id)).texts == site.texts
    assert await Purpose.filter(site=site).count() == 4
    assert not await AuditEntry.filter(action__startswith="banner").exists()


async def test_privacy_edits_a_swedish_text(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    email = await signed_in(client, "privacy")
    saved = await post(client, f"/admin/sites/{site.key}/banner",
                       {"language": "sv", "text-title": "Kakor hos Kursgården ✓"})
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/admin/sites/{site.key}/banner?lang=sv&saved=texts#texts"
    page = await client.get(saved.headers["location"])
    assert 'value="Kakor hos Kursgården ✓"' in page.text
    assert "The draft has unpublished changes" in page.text
    assert (await Site.get(id=site.id)).texts["sv"]["title"] == "Kakor hos Kursgården ✓"
    entry = await AuditEntry.get(action="banner.texts")
    assert entry.actor == email and entry.after == {
        "language": "sv", "texts": {"title": "Kakor hos Kursgården ✓"},
    }


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"language": "sv", "text-title": "nul\x00here"}, "e-text-title"),
        ({"language": "sv", "text-description": "x" * 5000}, "e-text-description"),
        ({"language": "sv", "text-accept_all": "bell\x07"}, "e-text-accept_all"),
        ({"language": "sv", "text-headline": "x"}, None),  # no such text
        ({"language": "fi", "text-title": "Evästeet"}, None),  # no such language
        ({"text-title": "x"}, None),  # no language
        ({"language": "sv"}, None),  # no text at all
    ],
)
async def test_malformed_text_forms_come_back_with_the_error_beside_the_field(
    app: Starlette, client: httpx.AsyncClient, form: dict[str, str], field: str | None
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    r = await post(client, f"/admin/sites/{site.key}/banner", form)
    assert r.status_code == 422, r.text
    if field:
        assert f'id="{field}"' in r.text
        assert f'aria-describedby="{field}"' in r.text
    else:
        assert 'class="error" role="alert"' in r.text
    assert "The changes were not saved" in r.text
    assert (await Site.get(id=site.id)).texts == site.texts


async def test_a_file_instead_of_a_text_is_an_error_not_a_crash(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    r = await post(client, f"/admin/sites/{site.key}/banner", {"language": "sv"},
                   files={"text-title": ("t.txt", b"Kakor", "text/plain")})
    assert r.status_code == 422 and 'id="e-text-title"' in r.text


async def test_a_text_left_empty_falls_back_to_the_built_in_one(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    r = await post(client, f"/admin/sites/{site.key}/banner",
                   {"language": "en", "text-customize": "   "})
    assert r.status_code == 303
    assert (await Site.get(id=site.id)).texts["en"]["customize"] == ""
    page = await client.get(f"/admin/sites/{site.key}/banner?lang=en")
    assert "Built-in: Customize" in page.text


async def test_a_script_in_a_text_is_shown_as_text_in_the_editor(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    await post(client, f"/admin/sites/{site.key}/banner", {"language": "sv", "text-title": PAYLOAD})
    r = await post(client, f"/admin/sites/{site.key}/banner/purposes",
                   {"language": "sv", "key": "video", "name": PAYLOAD, "description": PAYLOAD})
    assert r.status_code == 303
    for path in ("banner?lang=sv", "preview?lang=sv"):
        page = (await client.get(f"/admin/sites/{site.key}/{path}")).text
        assert "<script>window.pwned" not in page and "<img src=x" not in page, path
    page = (await client.get(f"/admin/sites/{site.key}/banner?lang=sv")).text
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page
    # A rejected form shows what was typed again, escaped too.
    r = await post(client, f"/admin/sites/{site.key}/banner",
                   {"language": "sv", "text-title": PAYLOAD, "text-save": "x" * 5000})
    assert r.status_code == 422 and "<script>window.pwned" not in r.text


async def test_purposes_are_added_edited_moved_and_removed(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    base = f"/admin/sites/{site.key}/banner/purposes"
    added = await post(client, base, {"language": "sv", "key": "video", "name": "Video",
                                      "description": "Inbäddade filmer."})
    assert added.status_code == 303 and added.headers["location"].endswith("#purpose-video")
    edited = await post(client, f"{base}/video", {"language": "sv", "name": "Filmer",
                                                  "description": "Från Youtube."})
    assert edited.status_code == 303
    video = await Purpose.get(site=site, key="video")
    assert video.name == {"sv": "Filmer"} and video.description == {"sv": "Från Youtube."}
    assert not video.required
    moved = await post(client, f"{base}/video/move", {"language": "sv", "direction": "up"})
    assert moved.status_code == 303
    keys = [p.key for p in await Purpose.filter(site=site).order_by("order")]
    assert keys == ["necessary", "preferences", "statistics", "video", "marketing"]
    page = await client.get(f"/admin/sites/{site.key}/banner?lang=sv")
    assert page.text.index('id="purpose-video"') < page.text.index('id="purpose-marketing"')
    removed = await post(client, f"{base}/video/remove", {"language": "sv"})
    assert removed.status_code == 303
    assert not await Purpose.exists(site=site, key="video")
    actions = await AuditEntry.filter(object_type="purpose").order_by("id").values_list(
        "action", flat=True)
    assert actions == ["purpose.add", "purpose.edit", "purpose.remove"]
    assert await AuditEntry.filter(action="purpose.reorder").count() == 1


async def test_purpose_form_errors(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    base = f"/admin/sites/{site.key}/banner/purposes"
    for form, status, field in [
        ({"language": "en", "key": "Video Chat", "name": "x"}, 422, "e-key"),
        ({"language": "en", "key": "statistics", "name": "x"}, 409, "e-key"),
        ({"language": "en", "key": "video"}, 422, "e-name"),
        ({"language": "en", "key": "video", "name": "two\nlines"}, 422, "e-name"),
        ({"language": "en", "key": "video", "name": "x" * 300}, 422, "e-name"),
        ({"language": "en", "key": "v" * 41, "name": "x"}, 422, "e-key"),
        ({"language": "en", "key": "video", "name": "x", "description": "\x00"}, 422,
         "e-description"),
    ]:
        r = await post(client, base, form)
        assert r.status_code == status, (form, r.status_code)
        assert f'id="{field}"' in r.text, form
    edit = await post(client, f"{base}/statistics", {"language": "sv", "name": ""})
    assert edit.status_code == 422 and 'id="e-statistics-name"' in edit.text
    nul = await post(client, f"{base}/statistics",
                     {"language": "sv", "name": "ok", "description": "a\x00b"})
    assert nul.status_code == 422 and 'id="e-statistics-description"' in nul.text
    required = await post(client, f"{base}/necessary/remove", {"language": "en"})
    assert required.status_code == 422 and "required purposes cannot be removed" in required.text
    named = await post(client, f"{base}/marketing/remove", {"language": "en"})
    assert named.status_code == 422 and "Consent Mode" in named.text
    sideways = await post(client, f"{base}/statistics/move",
                          {"language": "en", "direction": "sideways"})
    assert sideways.status_code == 422 and "Move up or down" in sideways.text
    missing = await post(client, f"{base}/nothing-here", {"language": "en", "name": "x"})
    assert missing.status_code == 404
    assert await Purpose.filter(site=site).count() == 4
    assert not await AuditEntry.filter(object_type="purpose").exists()


async def test_an_unknown_site_is_a_404(app: Starlette, client: httpx.AsyncClient) -> None:
    await signed_in(client, "viewer")
    for path in ("banner", "preview", "preview/cmp.js"):
        assert (await client.get(f"/admin/sites/nosuchsite/{path}")).status_code == 404


async def test_the_preview_page_runs_the_draft_in_the_chosen_language(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    await post(client, f"/admin/sites/{site.key}/banner",
               {"language": "sv", "text-title": "Utkastets rubrik"})
    await client.post("/admin/logout", data={"csrf_token": await token_of(client)})
    await signed_in(client, "viewer")  # a viewer may look at the preview
    page = await client.get(f"/admin/sites/{site.key}/preview", params={"lang": "sv"})
    assert page.status_code == 200
    assert page.text.startswith("<!doctype html>")
    assert '<html lang="sv">' in page.text and "data-cmp-declaration" in page.text
    assert f'<script src="/admin/sites/{site.key}/preview/cmp.js"></script>' in page.text
    # The admin's strict policy stays: the embed styles its shadow roots with adopted
    # stylesheets, which style-src does not govern.
    assert "script-src 'self'" in page.headers["content-security-policy"]
    other = await client.get(f"/admin/sites/{site.key}/preview", params={"lang": "xx"})
    assert f'<html lang="{site.default_language}">' in other.text
    script = await client.get(f"/admin/sites/{site.key}/preview/cmp.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "no-store"
    assert b'"preview":true' in script.content and b"Utkastets rubrik" in script.content
    # The public script still serves version 1, without the draft.
    public = await client.get(f"/v1/sites/{site.key}/cmp.js")
    assert b"Utkastets rubrik" not in public.content
    assert b'"preview"' not in public.content

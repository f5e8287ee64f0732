"""Publishing and the version history (``admin/publish.py``) through HTTP: the summary, the
checks, the confirm step, roles, escaping in the summary and the diff."""

from __future__ import annotations

import re

import httpx
from starlette.applications import Starlette

from cmp_server.models import AuditEntry, ConfigVersion
from cmp_server.services import drafts, inventory, publishing, sites

from ..factories import published_site, staff_member
from ._client import sign_in, token_of

PAYLOAD = '<script>window.pwned=1</script><img src=x onerror="window.pwned=1">'
FINGERPRINT = re.compile(r'name="fingerprint" value="([0-9a-f]{64})"')


async def signed_in(client: httpx.AsyncClient, role: str) -> str:
    member = await staff_member(role)
    await sign_in(client, member.email)
    return member.email


async def confirm(client: httpx.AsyncClient, key: str, fingerprint: str | None = None
                  ) -> httpx.Response:
    if fingerprint is None:
        page = await client.get(f"/admin/sites/{key}/publish")
        found = FINGERPRINT.search(page.text)
        assert found, "the summary has no confirm form"
        fingerprint = found.group(1)
    return await client.post(f"/admin/sites/{key}/publish", data={
        "csrf_token": await token_of(client), "fingerprint": fingerprint,
    })


async def test_a_viewer_sees_the_summary_but_cannot_publish(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await drafts.edit_texts(site, "sv", {"title": "Kakor hos oss"})
    await signed_in(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/publish")
    assert page.status_code == 200
    assert "Ditt val om kakor" in page.text and "Kakor hos oss" in page.text
    assert "Publishing needs the privacy role" in page.text
    assert 'name="fingerprint"' not in page.text
    # Even with a well-formed confirmation, as a viewer: 403 and no new version.
    draft = await drafts.draft_config(site)
    refused = await confirm(client, site.key, publishing.fingerprint(draft))
    assert refused.status_code == 403
    assert await ConfigVersion.filter(site=site).count() == 1
    assert await AuditEntry.filter(action="config.publish").count() == 1  # version 1's
    for path in ("versions", "versions/1", "versions/diff?a=1&b=1"):
        assert (await client.get(f"/admin/sites/{site.key}/{path}")).status_code == 200, path


async def test_privacy_publishes_from_the_summary_and_sees_the_new_version(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    email = await signed_in(client, "privacy")
    await drafts.edit_texts(site, "sv", {"title": "Kakor hos oss"})
    page = await client.get(f"/admin/sites/{site.key}/publish")
    assert "What changes against version 1" in page.text
    assert "Visitors keep their choices" in page.text
    assert '<p class="was"><span class="sr-only">Before: </span>Ditt val om kakor</p>' in page.text
    assert '<p class="now"><span class="sr-only">After: </span>Kakor hos oss</p>' in page.text
    assert "Publish version 2" in page.text
    done = await confirm(client, site.key)
    assert done.status_code == 303
    assert done.headers["location"] == f"/admin/sites/{site.key}/versions/2?published=1"
    shown = await client.get(done.headers["location"])
    assert "Version 2 is published" in shown.text and email in shown.text
    assert (await client.get(f"/v1/sites/{site.key}/config")).json()["texts"]["sv"]["title"] \
        == "Kakor hos oss"
    again = await client.get(f"/admin/sites/{site.key}/publish")
    assert "Nothing to publish: the draft is the published version." in again.text
    assert 'name="fingerprint"' not in again.text
    history = await client.get(f"/admin/sites/{site.key}/versions")
    assert "changes from 1" in history.text and email in history.text


async def test_a_material_change_says_visitors_are_asked_again(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    await inventory.add_vendor(site, key="hotjar", name="Hotjar", country="MT")
    page = await client.get(f"/admin/sites/{site.key}/publish")
    assert "Visitors will be asked to choose again." in page.text
    assert '<span class="badge added">added</span> Hotjar' in page.text


async def test_an_unchanged_draft_cannot_be_published(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    draft = await drafts.draft_config(site)
    r = await confirm(client, site.key, publishing.fingerprint(draft))
    assert r.status_code == 409 and "nothing to publish" in r.text
    assert await ConfigVersion.filter(site=site).count() == 1


async def test_lint_errors_refuse_publishing_with_the_reason(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    await drafts.add_purpose(site, "video", name={"en": "Video"})
    await inventory.add_item(site, name="yt", purpose="video", review_status="unreviewed")
    page = await client.get(f"/admin/sites/{site.key}/publish")
    assert "sv: the purpose &#39;video&#39; has no name" in page.text
    assert "1 inventory item is not reviewed yet" in page.text
    assert 'name="fingerprint"' not in page.text and "Fix the" in page.text
    draft = await drafts.draft_config(site)
    r = await confirm(client, site.key, publishing.fingerprint(draft))
    assert r.status_code == 422 and "fix these before publishing" in r.text
    assert "has no name" in r.text
    assert await ConfigVersion.filter(site=site).count() == 1


async def test_a_draft_changed_since_the_summary_is_not_published(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    await drafts.edit_texts(site, "en", {"title": "Seen"})
    page = await client.get(f"/admin/sites/{site.key}/publish")
    found = FINGERPRINT.search(page.text)
    assert found
    await drafts.edit_texts(site, "en", {"title": "Not seen"})
    r = await confirm(client, site.key, found.group(1))
    assert r.status_code == 409 and "changed since its summary was shown" in r.text
    assert "Not seen" in r.text  # the summary shown again is the current one
    for bad in ("", "abc", "g" * 64, "\x00" * 64):
        r = await confirm(client, site.key, bad)
        assert r.status_code == 422 and "came without the summary" in r.text
    assert await ConfigVersion.filter(site=site).count() == 1


async def test_a_script_in_a_text_is_escaped_in_the_summary_and_the_diff(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    await drafts.edit_texts(site, "sv", {"title": PAYLOAD})
    await drafts.add_purpose(site, "xss", name={"en": PAYLOAD, "sv": PAYLOAD, "da": PAYLOAD},
                             description={"en": PAYLOAD, "sv": PAYLOAD, "da": PAYLOAD})
    await inventory.add_vendor(site, key="evil", name=PAYLOAD)
    summary = await client.get(f"/admin/sites/{site.key}/publish")
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in summary.text
    assert (await confirm(client, site.key)).status_code == 303
    for path in ("publish", "versions", "versions/2", "versions/diff?a=1&b=2"):
        page = (await client.get(f"/admin/sites/{site.key}/{path}")).text
        assert "<script>window.pwned" not in page and "<img src=x" not in page, path
    diff = (await client.get(f"/admin/sites/{site.key}/versions/diff?a=1&b=2")).text
    assert "+      &#34;title&#34;: &#34;&lt;script&gt;window.pwned=1&lt;/script&gt;" in diff


async def test_the_diff_between_any_two_versions(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await signed_in(client, "privacy")
    await drafts.edit_texts(site, "da", {"title": "Cookies hos os"})
    assert (await confirm(client, site.key)).status_code == 303
    await sites.set_purpose(site, "video", name={"en": "V", "sv": "V", "da": "V"},
                            description={"en": "V", "sv": "V", "da": "V"})
    assert (await confirm(client, site.key)).status_code == 303
    history = await client.get(f"/admin/sites/{site.key}/versions")
    assert history.text.count("<strong>yes</strong>") == 1  # version 3 added a purpose
    diff = await client.get(f"/admin/sites/{site.key}/versions/diff", params={"a": 3, "b": 1})
    assert diff.status_code == 200
    assert "From version 3 to version 1" in diff.text
    assert '<span class="badge removed">removed</span> V' in diff.text
    assert "Visitors were asked to choose again" in diff.text
    assert '<span class="d-add">+      &#34;title&#34;: &#34;Dit valg om cookies&#34;,</span>' \
        in diff.text
    for query in ("a=1&b=9", "a=x&b=1", "a=-1&b=1", "b=1", "a=99999999999999999999&b=1"):
        r = await client.get(f"/admin/sites/{site.key}/versions/diff?{query}")
        assert r.status_code == 404, query
    for number in ("0", "9", "abc", "1.0", "٣"):
        r = await client.get(f"/admin/sites/{site.key}/versions/{number}")
        assert r.status_code == 404, number


async def test_the_first_publish_of_a_new_site(app: Starlette, client: httpx.AsyncClient) -> None:
    site = await sites.create_site("Nytt", ["nytt.example"], languages=("sv", "en"),
                                   default_language="sv")
    await signed_in(client, "privacy")
    empty = await client.get(f"/admin/sites/{site.key}/versions")
    assert "Nothing published yet" in empty.text
    page = await client.get(f"/admin/sites/{site.key}/publish")
    assert "Nothing is published yet" in page.text and "What the first version holds" in page.text
    assert '<span class="badge added">added</span> Nödvändiga' in page.text
    assert "Visitors will be asked" not in page.text  # nobody has chosen anything yet
    assert (await confirm(client, site.key)).status_code == 303
    assert (await client.get(f"/v1/sites/{site.key}/config")).json()["version"] == 1
    editor = await client.get(f"/admin/sites/{site.key}/banner")
    assert "The draft is unchanged since version 1 was published" in editor.text
    assert '<a href="/admin/sites/' in editor.text and "sv (default)" in editor.text

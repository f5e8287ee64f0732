"""Automatic blocking in the admin (``admin/blocking.py``): the rules with what each waits for
and why, the mode, adding, changing, turning off and removing rules (audited, the privacy role
only), bad input beside its field with a 422, and what the publish summary then shows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from cmp_server.models import AuditEntry, BlockingRule, Site
from cmp_server.services import inventory, sites

from ..factories import published_site, staff_member
from ._client import sign_in, token_of


async def _as(client: httpx.AsyncClient, role: str) -> str:
    member = await staff_member(role)
    await sign_in(client, member.email)
    return await token_of(client)


async def _site() -> Site:
    site, _ = await published_site()
    await inventory.add_vendor(site, key="meta", name="Meta Pixel")
    await inventory.add_item(site, name="_fbp", purpose="marketing", vendor="meta",
                             review_status="unreviewed")
    return site


async def test_the_rules_say_what_they_hold_back_and_why(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site = await _site()
    await _as(client, "viewer")
    page = await client.get(f"/admin/sites/{site.key}/blocking")
    assert page.status_code == 200
    text = page.text
    assert "<code class=\"url\">connect.facebook.net</code>" in text
    assert "Meta Pixel" in text and "sets _fbp" in text
    assert "knowledge base: Meta Pixel&#39;s host" in text
    # A viewer reads: no forms that change anything.
    assert "Save the rule" not in text and "Turn off" not in text
    assert 'aria-current="page">Blocking</a>' in text


async def test_privacy_adds_changes_turns_off_and_removes_rules(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site = await _site()
    token = await _as(client, "privacy")
    base = f"/admin/sites/{site.key}/blocking"
    r = await client.post(f"{base}/rules", data={
        "csrf_token": token, "target": "https://widgets.example.org/chat/",
        "purposes": ["preferences", "statistics"]})
    assert (r.status_code, r.headers["location"]) == (303, f"{base}?saved=rule")
    row = await BlockingRule.get(site=site, host="widgets.example.org", path="/chat/")
    assert row.purposes == ["preferences", "statistics"] and row.enabled

    r = await client.post(f"{base}/toggle", data={
        "csrf_token": token, "target": "connect.facebook.net", "enabled": "off"})
    assert r.status_code == 303
    page = (await client.get(r.headers["location"])).text
    assert "The rule is turned off." in page and "Turn on" in page

    r = await client.post(f"{base}/rules", data={
        "csrf_token": token, "target": "www.google.com/recaptcha/", "never": "on"})
    assert r.status_code == 303
    assert (await BlockingRule.get(site=site, host="www.google.com")).purposes == []

    r = await client.post(f"{base}/remove", data={
        "csrf_token": token, "target": "widgets.example.org/chat/"})
    assert r.status_code == 303
    assert not await BlockingRule.exists(site=site, host="widgets.example.org")
    actions = [e.action for e in await AuditEntry.filter(site=site).order_by("id")]
    assert actions.count("blocking.rule") == 3 and "blocking.rule.remove" in actions

    summary = (await client.get(f"/admin/sites/{site.key}/publish")).text
    assert "Blocking rules" in summary and "www.google.com/recaptcha/ (never blocked)" in summary


async def test_the_mode_is_saved_and_audited(app: Starlette, client: httpx.AsyncClient) -> None:
    site = await _site()
    token = await _as(client, "privacy")
    base = f"/admin/sites/{site.key}/blocking"
    r = await client.post(f"{base}/mode", data={"csrf_token": token, "mode": "report"})
    assert r.status_code == 303
    assert (await sites.get_site(site.key)).options["auto_blocking"] == "report"
    assert await AuditEntry.exists(site=site, action="site.update")
    r = await client.post(f"{base}/mode", data={"csrf_token": token, "mode": "sometimes"})
    assert r.status_code == 422 and "choose block, report only or off" in r.text


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"target": "javascript:alert(1)", "purposes": ["marketing"]}, "target",
         "is not a host or URL prefix"),
        ({"target": "tracker.example", "purposes": ["no-such"]}, "purposes",
         "the site has no purpose"),
        ({"target": "tracker.example"}, "purposes", "choose what it waits for"),
        ({"target": "", "purposes": ["marketing"]}, "target", "Fill this in."),
        ({"target": "tracker.example/a\x00b", "purposes": ["marketing"]}, "target", "NUL"),
    ],
)
async def test_bad_rules_are_refused_beside_their_field(
    app: Starlette, client: httpx.AsyncClient, form: dict[str, Any], field: str, message: str
) -> None:
    site = await _site()
    token = await _as(client, "privacy")
    r = await client.post(f"/admin/sites/{site.key}/blocking/rules",
                          data={"csrf_token": token, **form})
    assert r.status_code == 422
    assert f'id="e-{field}"' in r.text and message in r.text
    assert not await BlockingRule.exists(site=site)


async def test_a_viewer_cannot_change_rules(app: Starlette, client: httpx.AsyncClient) -> None:
    site = await _site()
    token = await _as(client, "viewer")
    for action, form in (("rules", {"target": "tracker.example", "purposes": ["marketing"]}),
                         ("toggle", {"target": "connect.facebook.net", "enabled": "off"}),
                         ("mode", {"mode": "off"})):
        r = await client.post(f"/admin/sites/{site.key}/blocking/{action}",
                              data={"csrf_token": token, **form})
        assert r.status_code == 403
    assert not await BlockingRule.exists(site=site)
    assert (await sites.get_site(site.key)).options.get("auto_blocking", "enforce") == "enforce"


async def test_a_rule_never_added_is_not_removed(app: Starlette, client: httpx.AsyncClient) -> None:
    site = await _site()
    token = await _as(client, "privacy")
    r = await client.post(f"/admin/sites/{site.key}/blocking/remove", data={
        "csrf_token": token, "target": "never.added.example"})
    assert r.status_code == 404 and "no rule of staff" in r.text

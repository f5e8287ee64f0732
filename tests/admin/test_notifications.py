"""Webhooks in the admin (``admin/notifications.py``): owners add an endpoint (its secret shown
once), send it a test event, read its delivery log, send a delivery again, turn it off and
remove it, every change audited; others see which endpoints exist and change nothing; bad
input beside its field; another site's endpoint is a 404. A real local receiver."""

from __future__ import annotations

import httpx
import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette

from cmp_server.models import AuditEntry, WebhookEndpoint
from cmp_server.services import deliveries
from cmp_server.settings import Settings

from ..factories import published_site, staff_member
from ..test_webhooks import Receiver, receiver  # noqa: F401 - the receiver fixture
from ._client import sign_in, token_of


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The receiver listens on 127.0.0.1: the operator's setting that allows private targets.
    return settings.model_copy(update={"allow_private_scan_targets": True})


async def _as(client: httpx.AsyncClient, role: str) -> str:
    member = await staff_member(role)
    await sign_in(client, member.email)
    return await token_of(client)


async def test_an_owner_adds_tests_reads_resends_turns_off_and_removes(
    app: Starlette, client: httpx.AsyncClient, receiver: Receiver  # noqa: F811
) -> None:
    site, _ = await published_site()
    token = await _as(client, "owner")
    base = f"/admin/sites/{site.key}/notifications"
    page = await client.get(base)
    assert page.status_code == 200 and "No webhook endpoints yet" in page.text
    assert 'aria-current="page">Notifications</a>' in page.text

    refused = await client.post(f"{base}/webhooks", data={
        "csrf_token": token, "url": "ftp://example.org/x", "events": ["scan.failed"]})
    assert refused.status_code == 422 and 'id="e-url"' in refused.text
    assert 'value="ftp://example.org/x"' in refused.text  # what was typed is kept
    refused = await client.post(f"{base}/webhooks", data={
        "csrf_token": token, "url": receiver.url})
    assert refused.status_code == 422 and "choose at least one event" in refused.text

    added = await client.post(f"{base}/webhooks", data={
        "csrf_token": token, "url": receiver.url, "description": "<b>Ops</b>",
        "events": ["scan.failed", "version.published"]})
    assert added.status_code == 201
    endpoint = await WebhookEndpoint.get(site=site)
    assert endpoint.secret in added.text and "not shown again" in added.text
    assert "&lt;b&gt;Ops&lt;/b&gt;" in added.text
    assert endpoint.secret not in (await client.get(base)).text  # once only
    one = f"{base}/webhooks/{endpoint.id}"
    assert endpoint.secret not in (await client.get(one)).text

    sent = await client.post(f"{one}/test", data={"csrf_token": token})
    assert (sent.status_code, sent.headers["location"]) == (303, f"{one}?saved=test")
    assert await deliveries.deliver_due("w", allow_private=True) == 1
    [(headers, body)] = receiver.requests
    assert Webhook(endpoint.secret).verify(body, headers)["type"] == "webhook.test"
    log = (await client.get(one)).text
    assert "webhook.test" in log and "delivered" in log and "<strong>200</strong>" in log

    delivery_id = int(log.split('name="delivery" value="')[1].split('"')[0])
    again = await client.post(f"{one}/again", data={"csrf_token": token,
                                                     "delivery": str(delivery_id)})
    assert again.status_code == 303
    await deliveries.deliver_due("w", allow_private=True)
    assert len(receiver.requests) == 2
    assert receiver.requests[0][0]["webhook-id"] == receiver.requests[1][0]["webhook-id"]

    off = await client.post(f"{one}/enabled", data={"csrf_token": token, "enabled": "off"})
    assert off.headers["location"].endswith("?saved=off")
    await endpoint.refresh_from_db()
    assert not endpoint.enabled
    gone = await client.post(f"{one}/remove", data={"csrf_token": token})
    assert gone.headers["location"] == f"{base}?saved=removed"
    assert not await WebhookEndpoint.exists(site=site)
    actions = [a.action for a in await AuditEntry.filter(site=site, object_type="webhook")
               .order_by("id")]
    assert actions == ["webhook.add", "webhook.disable", "webhook.remove"]


async def test_others_see_the_endpoints_and_change_nothing(
    app: Starlette, client: httpx.AsyncClient, receiver: Receiver  # noqa: F811
) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    owner_token = await _as(client, "owner")
    await client.post(f"/admin/sites/{site.key}/notifications/webhooks", data={
        "csrf_token": owner_token, "url": receiver.url, "events": ["scan.failed"]})
    endpoint = await WebhookEndpoint.get(site=site)
    # Another site's path to this endpoint: not found.
    assert (await client.get(
        f"/admin/sites/{other.key}/notifications/webhooks/{endpoint.id}")).status_code == 404
    assert (await client.get(
        f"/admin/sites/{site.key}/notifications/webhooks/x")).status_code == 404

    await client.post("/admin/logout", data={"csrf_token": owner_token})
    token = await _as(client, "privacy")
    page = await client.get(f"/admin/sites/{site.key}/notifications")
    assert receiver.url in page.text and "needs the owner role" in page.text
    assert "Add the endpoint" not in page.text
    assert (await client.get(
        f"/admin/sites/{site.key}/notifications/webhooks/{endpoint.id}")).status_code == 403
    denied = await client.post(f"/admin/sites/{site.key}/notifications/webhooks", data={
        "csrf_token": token, "url": receiver.url, "events": ["scan.failed"]})
    assert denied.status_code == 403
    assert await WebhookEndpoint.filter(site=site).count() == 1


async def test_anyone_chooses_their_own_mail_and_hears_mail_is_not_set_up(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    from cmp_server.services import subscriptions

    site, _ = await published_site()
    token = await _as(client, "viewer")
    base = f"/admin/sites/{site.key}/notifications"
    page = await client.get(base)
    assert "Mail is not set up on this server" in page.text and "CMP_SMTP_HOST" in page.text
    saved = await client.post(f"{base}/mail", data={
        "csrf_token": token, "mode-scan.findings": "digest", "mode-scan.failed": "instant",
        "language": "sv"})
    assert (saved.status_code, saved.headers["location"]) == (303, f"{base}?saved=mail")
    viewer = (await AuditEntry.filter(action="notifications.mail").first())
    assert viewer is not None and viewer.site_id == site.id
    modes = await subscriptions.modes_of(viewer.staff_id or 0, site)
    assert (modes["scan.findings"], modes["scan.failed"], modes["version.published"]) == (
        "digest", "instant", "off")
    assert await subscriptions.language_of(viewer.staff_id or 0) == "sv"
    page = await client.get(f"{base}?saved=mail")
    assert page.text.count('Daily digest" checked') == page.text.count('At once" checked') == 1
    assert page.text.count('No mail" checked') == 3
    assert 'value="sv" selected' in page.text and "choices for" in page.text
    refused = await client.post(f"{base}/mail", data={
        "csrf_token": token, "mode-scan.findings": "hourly", "language": "sv"})
    assert refused.status_code == 422 and "Choose no mail, at once or daily digest" in refused.text
    assert (await subscriptions.modes_of(viewer.staff_id or 0, site))["scan.findings"] == "digest"

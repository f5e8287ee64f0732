"""Notification mail (issue 22): staff's choices per site, at once or in the daily digest, in
their language (en, sv, da), a plain-text and an HTML part with links into the admin, sent to a
real SMTP server in this process (aiosmtpd); mail to owners for an account locked and a webhook
turned off; without SMTP configured or with the server down, nothing waits for ever."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette

from cmp_server._utils import utcnow
from cmp_server.models import Delivery, DeliveryAttempt
from cmp_server.services import deliveries, events, publishing, staff, subscriptions
from cmp_server.services.mail import MailConfig, Notice, compose

from ._server import free_port
from .factories import published_site, staff_member


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.content  # type: ignore[attr-defined]
        self.messages.append(email.message_from_bytes(content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, MailConfig]]:
    box = Inbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, MailConfig(host="127.0.0.1", port=port, security="none", user=None,
                              password=None, sender="cmp@kurs.example", timeout=5,
                              base_url="https://cmp.kurs.example/")
    finally:
        controller.stop()


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


async def test_at_once_in_swedish_with_both_parts_and_a_link(
    app: Starlette, inbox: tuple[Inbox, MailConfig]
) -> None:
    box, config = inbox
    site, _ = await published_site("Kursgården <&>")
    officer = await staff_member("privacy", "anna@kurs.example")
    await subscriptions.set_modes(officer, site, {"version.published": "instant"}, "sv")
    version = await publishing.publish(site, published_by="anna@kurs.example")
    assert await deliveries.deliver_due("w", allow_private=False, mail=config) == 1
    [message] = box.messages
    assert message["To"] == "anna@kurs.example" and message["From"] == "cmp@kurs.example"
    assert message["Subject"] == f"Version {version.number} av Kursgården <&> publicerad"
    text, html = _parts(message)
    assert "publicerades av anna@kurs.example" in text
    link = f"https://cmp.kurs.example/admin/sites/{site.key}/versions/{version.number}"
    assert f"Öppna i administrationen: {link}" in text
    assert f'<a href="{link}">Öppna i administrationen</a>' in html
    assert "Kursgården &lt;&amp;&gt;" in html and "<&>" not in html  # escaped in HTML
    assert 'lang="sv"' in html and "Aviseringar" in text
    assert (await Delivery.get(staff=officer)).status == "delivered"


async def test_the_digest_waits_for_its_hour_and_is_one_mail_in_danish(
    app: Starlette, inbox: tuple[Inbox, MailConfig]
) -> None:
    box, config = inbox
    site, _ = await published_site()
    officer = await staff_member("privacy", "lars@kurs.example")
    await subscriptions.set_modes(officer, site, {"version.published": "digest",
                                                  "scan.failed": "digest"}, "da")
    now = utcnow()
    await events.emit(site, "version.published", {"version": 7, "published_by": "x"}, now=now)
    await events.emit(site, "scan.failed", {"error": "timeout"}, now=now)
    assert await deliveries.deliver_due("w", allow_private=False, mail=config, now=now) == 0
    due = events.next_digest(now)
    assert due > now and due.hour == events.DIGEST_HOUR_UTC
    assert await deliveries.deliver_due("w", allow_private=False, mail=config, now=due) == 2
    [message] = box.messages
    assert message["Subject"] == "Daglig oversigt: 2 hændelser"
    text, _ = _parts(message)
    assert "Version 7 af banneret" in text and "En planlagt scanning" in text
    assert "timeout" in text and "Notifikationer" in text


def test_every_event_reads_in_each_language_and_never_in_another() -> None:
    config = MailConfig("h", 25, "none", None, None, "a@b.example", 5, "https://x.example")
    data = {"site_name": "S", "new_items": 1, "new_violations": 2, "new_to_review": 3,
            "error": "e", "version": 2, "published_by": "p", "problems": 1, "checked": 9,
            "deleted": 4, "cutoff": "2026-01-01", "email": "m@x.example", "failures": 50,
            "until": "2026-01-01 10:00", "url": "https://hook.example/"}
    for event in ("scan.findings", "scan.failed", "version.published",
                  "verification.failed", "retention.purged", "account.locked",
                  "webhook.disabled"):
        seen = {}
        for language in ("en", "sv", "da"):
            message = compose([Notice(event, data)], "to@x.example", language, config)
            text, html = _parts(message)
            assert "?" not in message["Subject"] and "{" not in text, (event, language)
            seen[language] = text
        assert len(set(seen.values())) == 3, event  # three texts, none a copy of another


async def test_without_smtp_mail_is_given_up_at_once_saying_why(app: Starlette) -> None:
    site, _ = await published_site()
    officer = await staff_member("privacy")
    await subscriptions.set_modes(officer, site, {"scan.failed": "instant"}, "en")
    await events.emit(site, "scan.failed", {"error": "x"})
    assert await deliveries.deliver_due("w", allow_private=False, mail=None) == 1
    delivery = await Delivery.get(staff=officer)
    assert delivery.status == "given_up"
    attempt = await DeliveryAttempt.get(delivery=delivery)
    assert "CMP_SMTP_HOST" in (attempt.error or "")


async def test_a_server_that_is_down_is_tried_again_later(app: Starlette) -> None:
    site, _ = await published_site()
    officer = await staff_member("privacy")
    await subscriptions.set_modes(officer, site, {"scan.failed": "instant"}, "en")
    now = utcnow()
    await events.emit(site, "scan.failed", {"error": "x"}, now=now)
    down = MailConfig("127.0.0.1", free_port(), "none", None, None, "a@b.example", 2,
                      "https://x.example")
    await deliveries.deliver_due("w", allow_private=False, mail=down, now=now)
    delivery = await Delivery.get(staff=officer)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.due_at >= now + timedelta(seconds=5)
    assert (await DeliveryAttempt.get(delivery=delivery)).error


async def test_owners_hear_of_a_locked_account(
    app: Starlette, inbox: tuple[Inbox, MailConfig]
) -> None:
    box, config = inbox
    owner = await staff_member("owner", "owner@kurs.example")
    await staff_member("privacy", "not-an-owner@kurs.example")
    victim = await staff_member("viewer", "victim@kurs.example")
    for _ in range(staff.LOCK_AFTER):
        await staff._failed(victim)
    await deliveries.deliver_due("w", allow_private=False, mail=config)
    [message] = box.messages
    assert message["To"] == owner.email
    assert message["Subject"] == "Account victim@kurs.example locked"
    text, _ = _parts(message)
    assert f"https://cmp.kurs.example/admin/staff/{victim.id}" in text
    assert "owner of this consent platform" in text


async def test_choices_are_per_site_audited_and_refuse_nonsense(app: Starlette) -> None:
    from cmp_server.errors import InvalidRequest
    from cmp_server.models import AuditEntry

    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    officer = await staff_member("privacy")
    await subscriptions.set_modes(officer, site, {"scan.findings": "digest"}, "da")
    assert (await subscriptions.modes_of(officer.id, site))["scan.findings"] == "digest"
    assert set((await subscriptions.modes_of(officer.id, other)).values()) == {"off"}
    assert await subscriptions.language_of(officer.id) == "da"
    assert await AuditEntry.filter(action="notifications.mail", site=site).count() == 1
    with pytest.raises(InvalidRequest):
        await subscriptions.set_modes(officer, site, {"scan.findings": "hourly"}, "da")
    with pytest.raises(InvalidRequest):
        await subscriptions.set_modes(officer, site, {}, "de")
    # Another site's event never reaches this site's subscriber.
    await events.emit(other, "scan.findings", {"new_items": 1})
    assert await Delivery.filter(staff=officer).count() == 0

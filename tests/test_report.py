"""The monthly compliance report (issue 22): a month of data rendered to HTML and to a real
PDF (WeasyPrint), downloadable from the admin by every role, mailed on the 1st to the staff
who chose it, once per site and month also with several workers."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette

from cmp_server.errors import InvalidRequest
from cmp_server.models import Event
from cmp_server.services import counters, publishing, report, subscriptions
from cmp_server.services.report_render import report_html, report_pdf

from .factories import bulk_receipts, published_site, staff_member


def test_a_month_is_yyyy_mm_and_defaults_to_the_last_whole_one() -> None:
    assert report.month_of("2026-11") == date(2026, 11, 1)
    assert report.month_of(None, today=date(2026, 1, 15)) == date(2025, 12, 1)
    for bad in ("2026-13", "26-11", "2026-1", "２０２６-11", "x"):
        with pytest.raises(InvalidRequest):
            report.month_of(bad)


async def test_a_month_of_data_in_html_and_pdf(app: Starlette) -> None:
    site, _ = await published_site("Kursgården <b>")
    today = datetime.now(UTC)
    month = today.date().replace(day=1)
    await bulk_receipts(site, 6, at=today, method="accept_all")
    await bulk_receipts(site, 2, at=today, method="reject_all")
    await counters.recount(site)  # written around the writer, which keeps the counters
    await publishing.publish(site)
    made = await report.monthly_report(site, month)
    html = report_html(made)
    assert "Kursgården &lt;b&gt;" in html and "<b>" not in html.split("<body>")[1][:200]
    assert "8 receipts this month" in html
    assert "75.0 %" in html and "25.0 %" in html  # accept all 6 of 8, reject all 2 of 8
    assert "Versions published this month" in html and "<td>2</td>" in html
    # bulk_receipts writes around the writer: the proof section says they do not verify
    assert "8 problems" in html
    pdf = await report_pdf(made)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5000
    with pytest.raises(InvalidRequest):
        await report.monthly_report(site, (month + timedelta(days=40)).replace(day=1))


async def test_every_role_downloads_the_pdf(app: Starlette, client: httpx.AsyncClient) -> None:
    from .admin._client import sign_in

    site, _ = await published_site()
    viewer = await staff_member("viewer")
    await sign_in(client, viewer.email)
    page = await client.get(f"/admin/sites/{site.key}/reports")
    assert page.status_code == 200 and "Monthly compliance reports" in page.text
    pdf = await client.get(f"/admin/sites/{site.key}/reports/pdf?month=2026-11")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    assert f"compliance-report-{site.key}-2026-11.pdf" in pdf.headers["content-disposition"]
    bad = await client.get(f"/admin/sites/{site.key}/reports/pdf?month=nope")
    assert bad.status_code in (400, 422)


async def test_the_first_of_the_month_queues_one_report_per_site(app: Starlette) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    officer = await staff_member("privacy")
    await subscriptions.set_modes(officer, site, {"report.monthly": "instant"}, "da")
    assert await report.send_due_reports(datetime(2026, 12, 2, 8, tzinfo=UTC)) == 0
    assert await report.send_due_reports(datetime(2026, 12, 1, 6, tzinfo=UTC)) == 0
    first = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    # Two workers at the same moment: each site's report once.
    counts = await asyncio.gather(report.send_due_reports(first),
                                  report.send_due_reports(first))
    assert sorted(counts) == [0, 2] or sum(counts) == 2
    assert await report.send_due_reports(first + timedelta(hours=3)) == 0
    kept = await Event.filter(type="report.monthly").order_by("site_id")
    assert [e.site_id for e in kept] == [site.id, other.id]
    assert kept[0].data["month"] == "2026-11"


async def test_the_mail_carries_the_pdf(app: Starlette) -> None:
    from aiosmtpd.controller import Controller

    from cmp_server.services import deliveries
    from cmp_server.services.mail import MailConfig

    from ._server import free_port
    from .test_mail import Inbox, _parts

    site, _ = await published_site()
    officer = await staff_member("privacy", "report@kurs.example")
    await subscriptions.set_modes(officer, site, {"report.monthly": "instant"}, "sv")
    first = datetime.now(UTC).replace(day=1, hour=8)
    if first > datetime.now(UTC):
        first = first.replace(hour=7, minute=1)
    await report.send_due_reports(first)
    box, port = Inbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = MailConfig("127.0.0.1", port, "none", None, None, "cmp@kurs.example", 10,
                            "https://cmp.kurs.example")
        assert await deliveries.deliver_due("w", allow_private=False, mail=config,
                                            now=first + timedelta(seconds=1)) == 1
    finally:
        controller.stop()
    [message] = box.messages
    assert message["Subject"].startswith("Efterlevnadsrapport för Shop")
    text, _ = _parts(message)
    assert "bifogad som PDF" in text
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content().startswith(b"%PDF-")

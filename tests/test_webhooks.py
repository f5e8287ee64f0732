"""Webhooks (issue 22): events fanned out to the endpoints that want them, delivered signed as
the Standard Webhooks specification says (checked with the specification's own verifier),
tried again with backoff, given up after a day, an endpoint turned off after a day of
failures, never sent to a private address unless the operator allows it, and claimed by one
worker at a time. A real HTTP receiver on a local port; time is injected, nothing sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette

from cmp_server._utils import utcnow
from cmp_server.errors import InvalidRequest
from cmp_server.models import Delivery, DeliveryAttempt, WebhookEndpoint
from cmp_server.services import deliveries, events, webhooks
from cmp_server.settings import Settings
from cmp_server.worker import ScanWorker

from .factories import published_site, staff_member


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server: records each request, answers ``status``."""

    status: int = 200
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")[1:]
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((headers, body))
        reason = b"OK" if self.status < 400 else b"Error"
        answer = b'{"seen": true}'
        writer.write(b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (self.status, reason, len(answer), answer))
        await writer.drain()
        writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    server = await asyncio.start_server(got.handle, "127.0.0.1", 0)
    got.port = server.sockets[0].getsockname()[1]
    async with server:
        yield got


async def _endpoint(receiver: Receiver, events_: list[str] | None = None) -> WebhookEndpoint:
    site, _ = await published_site()
    return await webhooks.add_endpoint(site, receiver.url, events_ or ["version.published"],
                                       actor=None, allow_private=True)


async def test_a_private_target_is_refused_unless_the_operator_allows_it(
    app: Starlette, receiver: Receiver
) -> None:
    site, _ = await published_site()
    with pytest.raises(InvalidRequest) as refused:
        await webhooks.add_endpoint(site, receiver.url, ["scan.failed"], actor=None,
                                    allow_private=False)
    assert refused.value.field == "url" and "CMP_ALLOW_PRIVATE_SCAN_TARGETS" in refused.value.detail
    with pytest.raises(InvalidRequest, match="unknown events"):
        await webhooks.add_endpoint(site, receiver.url, ["nope"], actor=None, allow_private=True)
    # Saved while allowed, sent while not (or a name that now resolves inward): refused at
    # the connection, nothing reaches the receiver, the attempt says why.
    endpoint = await webhooks.add_endpoint(site, receiver.url, ["scan.failed"], actor=None,
                                           allow_private=True)
    await events.emit(site, "scan.failed", {"error": "x"})
    assert await deliveries.deliver_due("w1", allow_private=False) == 1
    attempt = await DeliveryAttempt.get(delivery__endpoint=endpoint)
    assert attempt.status_code is None and "refused" in (attempt.error or "")
    assert "127.0.0.1" in (attempt.error or "")
    assert receiver.requests == []


async def test_a_delivery_is_signed_as_the_specification_says(
    app: Starlette, receiver: Receiver
) -> None:
    endpoint = await _endpoint(receiver, ["version.published", "scan.failed"])
    assert endpoint.secret.startswith("whsec_")
    other = await webhooks.add_endpoint(await endpoint.site, receiver.url, ["scan.failed"],
                                        actor=None, allow_private=True)
    event = await events.emit(await endpoint.site, "version.published", {"version": 2})
    assert await Delivery.filter(endpoint=other).count() == 0  # it did not ask for this one
    assert await deliveries.deliver_due("w1", allow_private=True) == 1
    [(headers, body)] = receiver.requests
    payload = Webhook(endpoint.secret).verify(body, headers)
    assert payload["type"] == "version.published" and payload["data"]["version"] == 2
    assert headers["webhook-id"] == f"msg_{event.id}"
    with pytest.raises(Exception):  # noqa: B017 - the verifier's own error, any secret but ours
        Webhook(other.secret).verify(body, headers)
    delivery = await Delivery.get(endpoint=endpoint)
    assert delivery.status == "delivered" and delivery.attempts == 1
    attempt = await DeliveryAttempt.get(delivery=delivery)
    assert attempt.status_code == 200 and attempt.excerpt == '{"seen": true}'


async def test_failures_back_off_then_give_up_and_a_day_of_them_turns_the_endpoint_off(
    app: Starlette, receiver: Receiver
) -> None:
    receiver.status = 500
    endpoint = await _endpoint(receiver)
    owner = await staff_member("owner")
    start = utcnow()
    await events.emit(await endpoint.site, "version.published", {"version": 2}, now=start)
    now = start
    while now < start + timedelta(hours=25):
        await deliveries.deliver_due("w1", allow_private=True, now=now)
        now += timedelta(seconds=1) if now - start < timedelta(minutes=5) else timedelta(minutes=1)
    delivery = await Delivery.get(endpoint=endpoint)
    assert delivery.status == "given_up"
    tried_at = [a.at - start for a in await DeliveryAttempt.filter(delivery=delivery)
                .order_by("id")]
    # 0 s, then 5 s, 10 s, 20 s, 40 s ... apart, never more than 2 h apart, for a day
    gaps = [b - a for a, b in zip(tried_at, tried_at[1:], strict=False)]
    assert gaps[:4] == [timedelta(seconds=s) for s in (5, 10, 20, 40)]
    assert max(gaps) <= timedelta(hours=2, minutes=1)
    assert tried_at[-1] >= timedelta(hours=24)
    assert len(receiver.requests) == len(tried_at) == await DeliveryAttempt.filter(
        delivery=delivery).count()
    await endpoint.refresh_from_db()
    assert not endpoint.enabled and "turned off after failing since" in (
        endpoint.disabled_reason or "")
    [told] = await Delivery.filter(channel="mail").prefetch_related("event")
    assert told.staff_id == owner.id and told.event.type == "webhook.disabled"  # type: ignore[attr-defined]
    # Turned off: new events are kept but not queued for it; turning it on clears the streak.
    await events.emit(await endpoint.site, "version.published", {"version": 3}, now=now)
    assert await Delivery.filter(endpoint=endpoint).count() == 1
    await webhooks.set_enabled(endpoint, True, actor=None)
    assert endpoint.enabled and endpoint.failing_since is None


async def test_a_success_ends_the_failing_streak(app: Starlette, receiver: Receiver) -> None:
    receiver.status = 503
    endpoint = await _endpoint(receiver)
    start = utcnow()
    await events.emit(await endpoint.site, "version.published", {}, now=start)
    await deliveries.deliver_due("w1", allow_private=True, now=start)
    await endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    receiver.status = 200
    await deliveries.deliver_due("w1", allow_private=True, now=start + timedelta(seconds=5))
    await endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.enabled
    assert (await Delivery.get(endpoint=endpoint)).status == "delivered"


async def test_one_worker_per_delivery_and_a_dead_workers_lease_runs_out(
    app: Starlette, receiver: Receiver
) -> None:
    endpoint = await _endpoint(receiver)
    now = utcnow()
    for n in range(30):
        await events.emit(await endpoint.site, "version.published", {"version": n}, now=now)
    # Two workers at once (on PostgreSQL, two connections and SKIP LOCKED): each delivery
    # is taken by one of them.
    first, second = await asyncio.gather(deliveries.claim("a", now, limit=20),
                                         deliveries.claim("b", now, limit=20))
    ids = [d.id for d in first] + [d.id for d in second]
    assert len(ids) == len(set(ids)) == 30
    # Both died holding their claims: nobody takes them until the lease ends, then another
    # worker does, once.
    assert await deliveries.deliver_due("c", allow_private=True, now=now) == 0
    later = now + deliveries.LEASE + timedelta(seconds=1)
    assert await deliveries.deliver_due("c", allow_private=True, now=later) == 30
    assert await deliveries.deliver_due("c", allow_private=True, now=later) == 0
    seen = [h["webhook-id"] for h, _ in receiver.requests]
    assert len(seen) == len(set(seen)) == 30
    assert await Delivery.filter(status="delivered").count() == 30


async def test_send_a_test_event_and_send_again(app: Starlette, receiver: Receiver) -> None:
    endpoint = await _endpoint(receiver, ["scan.failed"])
    await webhooks.send_test(endpoint, actor=None)  # whatever the endpoint asked for
    await deliveries.deliver_due("w1", allow_private=True)
    [(headers, body)] = receiver.requests
    assert Webhook(endpoint.secret).verify(body, headers)["type"] == "webhook.test"
    [entry] = await webhooks.log(endpoint)
    again = await webhooks.send_again(endpoint, entry["delivery"].id)
    assert again.event_id == entry["delivery"].event_id
    await deliveries.deliver_due("w1", allow_private=True)
    assert [h["webhook-id"] for h, _ in receiver.requests] == [headers["webhook-id"]] * 2
    log = await webhooks.log(endpoint)
    assert [e["delivery"].status for e in log] == ["delivered", "delivered"]
    assert log[0]["attempts"][0].status_code == 200


async def test_the_worker_delivers_while_it_waits_for_scans(
    app: Starlette, receiver: Receiver, settings: Settings
) -> None:
    endpoint = await _endpoint(receiver)
    await events.emit(await endpoint.site, "version.published", {"version": 9})
    stop = asyncio.Event()
    worker = ScanWorker(settings.model_copy(update={"allow_private_scan_targets": True}),
                        delivery_poll=0.05)
    running = asyncio.create_task(worker.run_forever(stop))
    try:
        for _ in range(200):
            if receiver.requests:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    assert len(receiver.requests) == 1
    assert (await Delivery.get(endpoint=endpoint)).status == "delivered"


async def test_events_come_from_where_things_happen(app: Starlette) -> None:
    """Publishing, a scan with something new, a scheduled scan that fails and a purge that
    deleted receipts each keep their event (and so reach the endpoints that want it)."""
    from cmp_server.models import Event, ScanJob, ScanSchedule
    from cmp_server.services import publishing, retention, schedules, sites
    from cmp_server.services.scan_results import store_scan

    from .factories import bulk_receipts
    from .test_scans import item, report

    site, _ = await published_site()
    assert [e.type for e in await Event.filter(site=site)] == ["version.published"]
    await publishing.publish(site)
    published = await Event.filter(site=site, type="version.published").order_by("id")
    assert [e.data["version"] for e in published] == [1, 2]
    assert published[1].data["site"] == site.key

    await store_scan(site, report(item("_new_cookie")))
    [found] = await Event.filter(site=site, type="scan.findings")
    assert found.data["new_items"] >= 1 and found.data["admin_path"].endswith(
        f"/scans/{found.data['scan']}")
    await store_scan(site, report(item("_new_cookie")))  # nothing new: no event
    assert await Event.filter(site=site, type="scan.findings").count() == 1

    # A schedule whose target is refused (a private address): a failed job and its event.
    await ScanSchedule.create(site=site, start_url="http://127.0.0.1:9/", passes=["none"],
                              next_run_at=utcnow())
    await schedules.enqueue_due(allow_private=False)
    [failed] = await Event.filter(site=site, type="scan.failed")
    job = await ScanJob.get(id=failed.data["job"])
    assert job.status == "failed" and job.requested_by == "schedule"

    await bulk_receipts(site, 3, at=utcnow() - timedelta(days=400))
    await sites.update_site(site, receipt_retention_days=365)
    await retention.purge_receipts(trigger="test")
    [purged] = await Event.filter(site=site, type="retention.purged")
    assert purged.data["deleted"] == 3
    await retention.purge_receipts(trigger="test")  # nothing to delete: no event
    assert await Event.filter(site=site, type="retention.purged").count() == 1


async def test_verify_receipts_that_finds_a_problem_says_so_to_the_webhooks(
    app: Starlette, database_url: str, tmp_path: Path
) -> None:
    from cmp_server.models import Event

    from ._server import cli_env, run_cli
    from .factories import bulk_receipts

    site, _ = await published_site()
    await bulk_receipts(site, 2)  # written around the writer: their record hashes are wrong
    done = await asyncio.to_thread(run_cli, ["verify-receipts", "--site", site.key],
                                   cli_env(database_url, tmp_path))
    assert done.returncode == 1 and done.stdout.count("BROKEN") == 2, done.stdout + done.stderr
    [event] = await Event.filter(site=site, type="verification.failed")
    assert event.data["problems"] == 2 and len(event.data["first"]) == 2

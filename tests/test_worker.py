"""The scan worker through database trouble: a failed heartbeat or a failed end-of-job write
is tried again, so a scan that runs or ran is not taken for a stale one and run again. The
fault is the database's own (a trigger the test installs), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from tortoise import connections

from cmp_server.models import ScanJob
from cmp_server.services import scans
from cmp_server.settings import Settings
from cmp_server.worker import ScanWorker

from .factories import published_site


@asynccontextmanager
async def refused_updates(is_postgres: bool, when: str) -> AsyncIterator[None]:
    """While inside, the database refuses updates of scan jobs for which ``when`` holds."""
    conn = connections.get("default")
    if is_postgres:
        await conn.execute_script(
            "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;"
            f" CREATE TRIGGER test_refuse BEFORE UPDATE ON scan_job FOR EACH ROW"
            f" WHEN ({when}) EXECUTE FUNCTION test_refuse();"
        )
    else:
        await conn.execute_script(
            f"CREATE TRIGGER test_refuse BEFORE UPDATE ON scan_job WHEN {when}"
            " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        )
    try:
        yield
    finally:
        await conn.execute_script(
            "DROP TRIGGER test_refuse ON scan_job; DROP FUNCTION test_refuse();"
            if is_postgres
            else "DROP TRIGGER test_refuse"
        )


async def test_a_failed_heartbeat_is_sent_again(
    app: Starlette, settings: Settings, is_postgres: bool
) -> None:
    site, _ = await published_site()
    await scans.request_scan(site, start_url="http://127.0.0.1:9/", allow_private=True)
    job = await scans.claim_job("w1")
    assert job is not None
    worker = ScanWorker(settings, worker_id="w1", heartbeat_every=0.05, progress_every=0.05)
    scan = asyncio.create_task(asyncio.Event().wait())  # a scan that runs until stopped
    async with refused_updates(is_postgres, "NEW.heartbeat_at IS NOT NULL"):
        beating = asyncio.create_task(worker._watch(job, {"phase": "crawl"}, scan))
        await asyncio.sleep(0.3)  # beats refused
    try:
        for _ in range(100):
            stored = await ScanJob.get(id=job.id)
            if stored.progress == {"phase": "crawl"}:
                break
            await asyncio.sleep(0.02)
        assert stored.progress == {"phase": "crawl"}  # beating again once the database is
        assert not beating.done() and not scan.done()
    finally:
        beating.cancel()
        scan.cancel()


async def test_the_end_of_a_job_is_recorded_once_the_database_takes_it(
    app: Starlette, settings: Settings, is_postgres: bool
) -> None:
    site, _ = await published_site()
    # A target the worker refuses at run time: the job ends at once, failed, without a browser.
    await scans.request_scan(site, start_url="http://127.0.0.1:9/", allow_private=True)
    worker = ScanWorker(
        settings.model_copy(update={"allow_private_scan_targets": False}), poll=0.05
    )
    async with refused_updates(is_postgres, "NEW.finished_at IS NOT NULL"):
        running = asyncio.create_task(worker.run_once())
        await asyncio.sleep(0.3)  # the end refused
        assert not running.done()
    assert await asyncio.wait_for(running, 10) is True
    job = await ScanJob.get(site_id=site.id)
    assert job.status == "failed" and job.attempts == 1
    assert job.error and "127.0.0.1" in job.error, job.error

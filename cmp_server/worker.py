"""The scan worker: claims queued scan jobs, runs the scanner, stores the result.

Runs as ``cmp-server worker`` (any number, on any host, with PostgreSQL) and inside
``cmp-server serve`` for the SQLite default.

A database blip (a restart, a killed connection) costs a scan nothing: a heartbeat that fails
is sent again at the next beat, and the end of a job is recorded again until it is, so that a
scan that ran is not claimed and run again as stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from scanner import (
    ScanError,
    ScanLimits,
    ScanOptions,
    ScanProgress,
    check_public_target,
    scan_site,
)
from scanner.kb import KnowledgeBase

from .models import ScanJob, Site
from .services import deliveries, report, scans, schedules
from .services.checkpoints import run_checkpoints
from .services.mail import MailConfig
from .services.scan_results import store_scan
from .settings import Settings

__all__ = ["ScanWorker", "kb_files", "mail_config", "scan_limits"]

log = logging.getLogger(__name__)

# Job options a request may carry through to ScanOptions (tests shorten the waits).
_PASS_THROUGH = (
    "max_pages",
    "extra_urls",
    "passes",
    "concurrency",
    "timeout",
    "settle",
    "idle_timeout",
    "consent_timeout",
    "browser_args",
    "ignore_https_errors",
)


def kb_files(settings: Settings) -> tuple[Path, ...]:
    """Knowledge base files an operator imported (``cmp-server kb import``)."""
    folder = settings.data_dir / "kb"
    return tuple(sorted(folder.glob("*.json"))) if folder.is_dir() else ()


def scan_limits(settings: Settings) -> ScanLimits:
    """The bounds on what a scanned site controls (``CMP_SCAN_MAX_*``)."""
    return ScanLimits(
        items_per_pass=settings.scan_max_items_per_pass,
        storage_keys_per_origin=settings.scan_max_storage_keys_per_origin,
        value_chars=settings.scan_max_value_chars,
        report_bytes=settings.scan_max_report_bytes,
        requests_per_pass=settings.scan_max_requests_per_pass,
    )


class ScanCancelled(Exception):
    """Staff cancelled the scan while it ran."""


def mail_config(settings: Settings) -> MailConfig | None:
    """How to send mail, or None when no SMTP server is configured."""
    if not settings.smtp_host:
        return None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return MailConfig(host=settings.smtp_host, port=settings.smtp_port,
                      security=settings.smtp_security, user=settings.smtp_user,
                      password=password, sender=settings.smtp_from,
                      timeout=settings.smtp_timeout_seconds, base_url=settings.public_base_url)


class ScanWorker:
    def __init__(
        self,
        settings: Settings,
        *,
        worker_id: str | None = None,
        poll: float = 2.0,
        heartbeat_every: float = 10.0,
        delivery_poll: float = 1.0,
        checkpointing: bool = False,
        progress_every: float = 1.0,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.poll = poll
        self.heartbeat_every = heartbeat_every
        self.delivery_poll = delivery_poll
        self.progress_every = progress_every
        self._schedule_checked = 0.0
        # `cmp-server worker` also takes checkpoints; inside `serve` the app's own loop does.
        self.checkpointing = checkpointing

    async def run_forever(self, stop: asyncio.Event) -> None:
        # Webhook deliveries go on while a scan runs: a scan takes minutes, an event seconds.
        delivering = asyncio.create_task(self.deliver_forever(stop))
        side = [delivering]
        if self.checkpointing:
            side.append(asyncio.create_task(self.checkpoint_forever(stop)))
        try:
            await self._scan_forever(stop)
        finally:
            stop.set()
            # A delivery under way finishes and is recorded (or its lease runs out and
            # another worker sends it again): its bounded timeout, then no longer.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(delivering, timeout=30)
            for task in side[1:]:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def checkpoint_forever(self, stop: asyncio.Event) -> None:
        """Signed checkpoints every interval (issue 21); one process signs at a time, the
        others find the work done."""
        while not stop.is_set():
            try:
                await run_checkpoints(self.settings.signing_key_path,
                                      self.settings.witness_urls, self.settings.checkpoint_file)
            except Exception:  # retried at the next interval; the receipts wait, unharmed
                log.exception("checkpoint run failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.checkpoint_interval_seconds)

    async def deliver_forever(self, stop: asyncio.Event) -> None:
        reports_checked = 0.0
        while not stop.is_set():
            if time.monotonic() - reports_checked > 600:  # the 1st's monthly reports
                reports_checked = time.monotonic()
                try:
                    await report.send_due_reports()
                except Exception:
                    log.exception("queueing the monthly reports failed")
            try:
                tried = await deliveries.deliver_due(
                    self.worker_id, allow_private=self.settings.allow_private_scan_targets,
                    mail=mail_config(self.settings),
                    lease=timedelta(seconds=self.settings.delivery_lease_seconds))
            except Exception:  # a database blip: try again at the next look
                log.exception("webhook delivery cycle failed")
                tried = 0
            if not tried:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.delivery_poll)

    async def _scan_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if time.monotonic() - self._schedule_checked > 60:
                    self._schedule_checked = time.monotonic()
                    await schedules.enqueue_due(
                        allow_private=self.settings.allow_private_scan_targets
                    )
                worked = await self.run_once()
            except Exception:  # a broken job or a database blip must not kill the worker
                log.exception("scan worker cycle failed")
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll)

    async def run_once(self) -> bool:
        """Claim and run one job; False when there was none."""
        job = await scans.claim_job(self.worker_id)
        if job is None:
            return False
        site = await Site.get(id=job.site_id)
        error = None
        try:
            report = await self._scan(job)
            kb = await asyncio.to_thread(KnowledgeBase.load, kb_files(self.settings))
            await store_scan(site, report, job=job, kb=kb, limits=scan_limits(self.settings))
        except ScanCancelled:
            await self._finish(job, None, cancelled=True)
            return True
        except (ScanError, ValueError) as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("scan job %s failed", job.id)
            error = f"internal error: {type(exc).__name__}"
        await self._finish(job, error)
        return True

    async def _finish(self, job: ScanJob, error: str | None, *, cancelled: bool = False) -> None:
        # Until half the time after which the job would be claimed again as stale.
        deadline = time.monotonic() + scans.STALE_AFTER.total_seconds() / 2
        pause = min(1.0, self.poll)
        while True:
            try:
                await scans.finish_job(job, error=error, cancelled=cancelled)
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("recording the end of scan job %s failed (%s); trying again",
                            job.id, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)

    async def _watch(self, job: ScanJob, latest: dict[str, Any],
                     scanning: asyncio.Task[Any]) -> bool:
        """Every second: new progress reaches the job at once (the admin shows it), and a
        heartbeat at least every ``heartbeat_every``; a cancellation staff asked for stops
        the scan (True)."""
        sent: dict[str, Any] | None = None
        beat_at = 0.0
        while True:
            if latest != sent or time.monotonic() - beat_at >= self.heartbeat_every:
                try:
                    cancel = await scans.heartbeat(job, dict(latest))
                    sent, beat_at = dict(latest), time.monotonic()
                except Exception as exc:  # tried again in a second: no stale job for it
                    log.warning("heartbeat of scan job %s failed: %s", job.id, exc)
                    cancel = False
                if cancel:
                    scanning.cancel()
                    return True
            await asyncio.sleep(self.progress_every)

    async def _scan(self, job: ScanJob) -> Any:
        options = dict(job.options)
        url = str(options["start_url"])
        # Checked again at run time: a name may resolve elsewhere now (DNS rebinding).
        extra = options.get("extra_urls")
        for target in [url, *(str(u) for u in (extra if isinstance(extra, list) else []))]:
            await asyncio.to_thread(check_public_target, target,
                                    self.settings.allow_private_scan_targets)
        scan_options = ScanOptions.model_validate(
            {
                "start_url": url,
                "chromium": self.settings.chromium,
                "kb_files": kb_files(self.settings),
                # ... and every request of the scan: redirects, links and embeds included.
                "public_only": not self.settings.allow_private_scan_targets,
                "limits": scan_limits(self.settings),
                **{k: options[k] for k in _PASS_THROUGH if k in options},
            }
        )
        latest: dict[str, Any] = {"phase": "discover"}

        def on_progress(event: ScanProgress) -> None:
            latest.update(event.model_dump(mode="json", exclude_none=True))

        scanning = asyncio.create_task(scan_site(scan_options, on_progress))
        watching = asyncio.create_task(self._watch(job, latest, scanning))
        try:
            return await scanning
        except asyncio.CancelledError:
            if watching.done() and not watching.cancelled() and watching.result():
                raise ScanCancelled() from None  # staff asked: not the worker stopping
            raise
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching

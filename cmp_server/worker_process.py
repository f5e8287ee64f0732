"""The scan worker in a process of its own, beside the server that `cmp-server serve` runs.

What a scan does besides driving the browser (reading its report, judging and comparing its
items, writing them, rendering nothing) is Python: run in the server's process it holds the
interpreter's lock, and every receipt waits for it. So `cmp-server serve` runs the worker
(``worker.ScanWorker``, as `cmp-server worker` does) in a child process:

- started once the server has opened (and, SQLite, migrated) the database;
- started again when it dies, after a pause that grows while it keeps dying;
- stopped with the server: asked (SIGTERM), given ``grace`` seconds to end the scan it is
  in, then killed; a scan it abandons is claimed again once stale (``scans.STALE_AFTER``);
- stopping by itself when the server dies without stopping it (``kill -9``): it watches its
  end of the pipe the server holds open (``multiprocessing.parent_process().sentinel``).

The child gets the server's settings object as they are (pickled), not the environment again:
`cmp-server demo` changes some of them in code.

On SQLite the two processes share one file. WAL lets each read while the other writes; a write
waits for the other's (``busy_timeout``); every transaction begins ``IMMEDIATE``
(``dialects/_sqlite_client``), so one that read first does not fail when it comes to write;
and the worker commits without waiting for the disk (``db.worker_url``), so that it holds the
write lock, which receipts then wait for, as briefly as it can.
Receipts are written by the server's process alone, in its one writer lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import multiprocessing
import signal
import time
from multiprocessing.process import BaseProcess
from typing import Any

from . import db
from .settings import Settings
from .worker import ScanWorker

__all__ = ["WorkerProcess"]

log = logging.getLogger(__name__)


class WorkerProcess:
    """Keeps one scan worker process running until ``run``'s ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        *,
        log_config: dict[str, Any] | None = None,
        grace: float = 10.0,
        restart_pause: float = 1.0,
        max_restart_pause: float = 60.0,
    ) -> None:
        self.settings = settings
        self.log_config = log_config
        self.grace = grace
        self.restart_pause = restart_pause
        self.max_restart_pause = max_restart_pause
        self.pid: int | None = None  # the running child's, for logs and tests
        self.starts = 0

    async def run(self, stop: asyncio.Event) -> None:
        # Spawned, not forked: a fork would copy the server's event loop, its open database
        # connection and its threads into the child.
        context = multiprocessing.get_context("spawn")
        pause = self.restart_pause
        while not stop.is_set():
            child = context.Process(target=_main,
                                    args=(self.settings, self.log_config, self.grace),
                                    name="cmp-scan-worker", daemon=False)
            child.start()
            self.pid, self.starts, started = child.pid, self.starts + 1, time.monotonic()
            log.info("scan worker started (pid %s)", child.pid)
            if not await _ended(child, stop):
                await asyncio.to_thread(self._stop, child)
                return
            # The sentinel closes as the child's files do, a moment before it can be reaped:
            # wait for that, or exitcode is still None and close() refuses a running process
            # (which ended this loop, and no worker was started again).
            await asyncio.to_thread(child.join, 5)
            if time.monotonic() - started > 10 * self.max_restart_pause:
                pause = self.restart_pause  # it ran a good while: a new trouble
            log.warning("scan worker (pid %s) exited with %s; starting it again in %gs",
                        child.pid, child.exitcode, pause)
            if child.exitcode is not None:
                child.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            pause = min(pause * 2, self.max_restart_pause)

    def _stop(self, child: BaseProcess) -> None:
        child.terminate()
        child.join(self.grace + 5)
        if child.exitcode is None:
            log.warning("scan worker (pid %s) did not stop in time; killed", child.pid)
            child.kill()
            child.join()
        log.info("scan worker stopped (pid %s)", child.pid)


async def _ended(child: BaseProcess, stop: asyncio.Event) -> bool:
    """True when the child ended by itself, False when ``stop`` was set first."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[Any] = loop.create_future()

    def readable() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(child.sentinel, readable)
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({ended, stopping}, return_when=asyncio.FIRST_COMPLETED)
        return ended.done()
    finally:
        loop.remove_reader(child.sentinel)
        stopping.cancel()


def _main(settings: Settings, log_config: dict[str, Any] | None, grace: float) -> None:
    """The child process: run the worker until asked to stop or the server is gone."""
    if log_config is not None:
        logging.config.dictConfig(log_config)
    asyncio.run(_work(settings, grace))


async def _work(settings: Settings, grace: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    parent = multiprocessing.parent_process()
    if parent is not None:
        loop.add_reader(parent.sentinel, stop.set)  # readable (closed) once the server is gone
    # The server migrated it before starting this process.
    await db.open_database(db.worker_url(settings.resolved_database_url), run_migrations=False)
    try:
        # Deliveries and, unless the server was told to keep them (CMP_CHECKPOINTS_IN_SERVER
        # =true), the signed checkpoints are this process's: off the receipts' event loop.
        checkpointing = settings.server_checkpoints and settings.checkpoints_in_server is not True
        working = asyncio.create_task(
            ScanWorker(settings, checkpointing=checkpointing).run_forever(stop)
        )
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        # The scan under way finishes if it can within the grace the server gives.
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(working, timeout=grace)
    finally:
        await db.close_database()

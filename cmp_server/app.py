"""The composition root: builds the ASGI app from settings. Nothing happens at import time."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from admin import create_admin

from . import _http, api, db
from .errors import CmpError
from .openapi import openapi_document
from .services.checkpoints import run_checkpoints
from .services.configs import ConfigCache
from .services.retention import purge_receipts
from .services.writer import ReceiptWriter
from .settings import Settings
from .worker import ScanWorker
from .worker_process import WorkerProcess

__all__ = ["create_app"]

log = logging.getLogger(__name__)


async def _purge_periodically(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await purge_receipts(trigger="schedule")
        except Exception:  # a failed purge is retried next time; it must not stop the server
            log.exception("scheduled receipt purge failed")


async def _checkpoint_periodically(settings: Settings) -> None:
    """At start (which also says, without a key, how to make one), then every interval."""
    while True:
        try:
            await run_checkpoints(settings.signing_key_path, settings.witness_urls,
                                  settings.checkpoint_file)
        except Exception:  # retried at the next interval; the receipts wait, unharmed
            log.exception("checkpoint run failed")
        await asyncio.sleep(settings.checkpoint_interval_seconds)


async def _openapi(request: Request) -> Response:
    return _http.json_response(request.app.state.openapi)


async def _health(request: Request) -> Response:
    return _http.json_response({"status": "ok"})


async def _favicon(request: Request) -> Response:
    """The admin's icon, also where a browser looks first (``/favicon.ico``) on a page that
    names none, as the demo page did: otherwise a 404 on every page."""
    return Response(request.app.state.favicon, media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


def create_app(
    settings: Settings,
    *,
    extra_routes: list[Route] | None = None,
    freeze_gc: bool = False,
    worker_process: dict[str, Any] | None = None,
) -> Starlette:
    """``freeze_gc``: for a server process (not tests, which build many apps in one process),
    move everything alive after start-up out of the garbage collector's reach. The
    collector's full passes then walk only what requests allocate: measured in-process, a full
    pass went from 61 ms to 7 ms, a pause every request in flight would otherwise wait out.

    ``worker_process``: run the scan worker (``settings.run_worker``) in a child process
    (``worker_process.WorkerProcess``, given these keyword arguments) rather than on this
    process's event loop, as `cmp-server serve` does; in-process, as tests build the app."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        url = settings.resolved_database_url
        backend = db.backend(url)
        await db.open_database(url, run_migrations=backend.migrates_on_open)
        # SQLite has one connection and one writer at a time; PostgreSQL takes several lanes.
        lanes = settings.receipt_writer_lanes if backend.concurrent_writers else 1
        writer = ReceiptWriter(settings.receipt_batch_max, lanes)
        await writer.start()
        app.state.writer = writer
        purge = asyncio.create_task(_purge_periodically(settings.purge_interval_seconds))
        # Each server process that runs it (one at a time signs, Dialect.claim_signer; the
        # others find the work done), unless worker processes take it over: `cmp-server
        # worker`s, or the worker process `serve` starts (worker_process._work).
        in_server = settings.server_checkpoints and (
            worker_process is None or settings.checkpoints_in_server is True
        )
        checkpointing = (asyncio.create_task(_checkpoint_periodically(settings))
                         if in_server else None)
        stop_worker = asyncio.Event()
        worker = None
        if settings.run_worker:
            # The default scans beside the server (its own process, from `cmp-server serve`);
            # with PostgreSQL, run separate `cmp-server worker` processes and set
            # CMP_RUN_WORKER=false.
            work = (
                WorkerProcess(settings, **worker_process).run(stop_worker)
                if worker_process is not None
                else ScanWorker(settings).run_forever(stop_worker)
            )
            worker = asyncio.create_task(work)
        if freeze_gc:
            gc.collect()
            gc.freeze()
            # Fewer, not longer, collections: a page that reads thousands of rows (a big
            # scan's, the inventory's) made a full collection per view at the default 700,
            # each holding the interpreter 25-100 ms while receipts waited (bench/
            # hostile_bench.py); at 10,000 none came in ten views of a 10,000-item scan.
            gc.set_threshold(10_000, 10, 10)
        try:
            yield
        finally:
            stop_worker.set()
            if worker is not None:
                # A scan still running is abandoned; its job is claimed again once stale. A
                # worker process is given its grace, then killed (WorkerProcess).
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(worker, timeout=10 if worker_process is None else 30)
            purge.cancel()
            if checkpointing is not None:
                checkpointing.cancel()
            await writer.stop()
            await db.close_database()

    app = Starlette(
        routes=[
            *api.routes,
            Route("/v1/openapi.json", _openapi),
            Route("/healthz", _health),
            Route("/favicon.svg", _favicon),
            Route("/favicon.ico", _favicon),
            *(extra_routes or []),
            Mount("/admin", app=create_admin(settings), name="admin"),
        ],
        exception_handlers={
            CmpError: _http.cmp_error_handler,
            ValidationError: _http.validation_error_handler,
            HTTPException: _http.http_error_handler,
            ClientDisconnect: _http.client_gone_handler,
            Exception: _http.server_error_handler,
        },
        lifespan=lifespan,
    )
    # Cache hits of the config and the script skip routing (api.PublishedFastPath).
    app.add_middleware(api.PublishedFastPath)
    app.state.settings = settings
    app.state.configs = ConfigCache(settings.config_cache_seconds)
    app.state.openapi = openapi_document()
    app.state.favicon = (files("admin") / "static" / "favicon.svg").read_bytes()
    return app

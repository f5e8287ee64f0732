"""``cmp-server scan URL [--site KEY]``: the scanner's own command, and with ``--site`` the scan
stored as that site's, as a queued scan's is (inventory, history, diff), but run now, in this
process, as the operator's own scan."""

from __future__ import annotations

import os
import socket
from typing import Any

import click
from rich.console import Console

from scanner import ScanReport
from scanner.cli import ScanArgs, run_scan, scan_parameters

__all__ = ["cancel_scan", "scan"]


@click.command("scan")
@scan_parameters
@click.option("--site", "site_key", default=None, metavar="KEY",
              help="Store the scan as this site's scan (inventory, history and diff), as a "
              "queued scan's would be. Without it only the report is written.")
def scan(site_key: str | None, **given: Any) -> None:
    """Scan URL before consent, after accept and after reject; report what it sets.

    With --site KEY the scan runs here and now (not queued for the workers) and is stored as
    the site's: then `cmp-server inventory --site KEY` lists what it found and
    `cmp-server publish --site KEY` publishes it."""
    args = ScanArgs(**given)
    if site_key is None:
        run_scan(args, args.options())
        return

    from scanner.kb import KnowledgeBase

    from . import cli
    from .errors import CmpError
    from .services import scans, sites
    from .worker import kb_files, scan_limits

    if args.max_pages > scans.MAX_PAGES:
        raise click.BadParameter(f"at most {scans.MAX_PAGES} pages for a stored scan",
                                 param_hint="--max-pages")
    settings = cli._settings()
    try:  # before the scan, not after minutes of it
        cli._with_db(settings, lambda: sites.get_site(site_key))
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    # The knowledge base the operator imported, as the worker scans and stores with.
    files = (*kb_files(settings), *args.kb_files)
    options = args.options(kb_files=files, chromium=args.chromium or settings.chromium,
                           limits=scan_limits(settings))
    run_by = f"cli:{socket.gethostname()}:{os.getpid()}"

    def store(report: ScanReport, human: Console) -> None:
        async def work() -> tuple[int, int | None, dict[str, Any]]:
            site = await sites.get_site(site_key)
            stored = await scans.store_run(
                site, report, max_pages=options.max_pages, passes=options.passes,
                run_by=run_by, kb=KnowledgeBase.load(files), limits=options.limits,
                extra={"concurrency": options.concurrency, "timeout": options.timeout,
                       "settle": options.settle},
            )
            return stored.id, stored.job_id, dict(stored.diff)  # type: ignore[attr-defined]

        try:
            scan_id, job_id, diff = cli._with_db(settings, work)
        except CmpError as exc:
            raise click.ClickException(exc.detail) from None
        counts = diff.get("inventory") or {}
        human.print(
            f"Stored as scan {scan_id} of site {site_key} (job {job_id}): inventory "
            f"{counts.get('added', 0)} new, {counts.get('seen', 0)} seen, "
            f"{counts.get('missing', 0)} no longer seen. "
            f"Next: cmp-server inventory --site {site_key}"
        )

    run_scan(args, options, after=store)


@click.command("cancel-scan")
@click.option("--site", "site_key", required=True, help="The site's public key.")
@click.option("--job", "job_id", type=int, default=None,
              help="The scan job's number (default: the site's queued or running one).")
def cancel_scan(site_key: str, job_id: int | None) -> None:
    """Cancel a queued scan, or stop a running one within seconds (audited)."""
    from . import cli_api

    if (remote := cli_api.remote()) is not None:
        cli_api.cancel_scan(remote, site_key, job_id)
        return
    from . import cli
    from .errors import CmpError
    from .models import ScanJob
    from .services import scans, sites

    async def work() -> ScanJob:
        site = await sites.get_site(site_key)
        chosen = job_id
        if chosen is None:
            active = await ScanJob.filter(site=site, status__in=("queued", "running")).order_by(
                "requested_at").first()
            if active is None:
                raise click.ClickException(f"{site_key} has no queued or running scan")
            chosen = active.id
        return await scans.cancel_job(site, chosen)

    try:
        job = cli._with_db(cli._settings(), work)
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    if job.status == "cancelled":
        click.echo(f"scan job {job.id} cancelled before it started")
    else:
        click.echo(f"scan job {job.id} is stopping: its worker stops the browser within seconds")

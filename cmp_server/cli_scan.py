"""``cmp-server scan URL [--site KEY]``: the scanner's own command, and with ``--site`` the scan
stored as that site's, as a queued scan's is (inventory, history, diff), but run now, in this
process, as the operator's own scan. ``cancel-scan`` stops one; ``schedules list/add/remove``
keeps a site's scan schedules (``services/schedules.py``)."""

from __future__ import annotations

import os
import socket
from typing import Any

import click
from rich.console import Console

from scanner import ScanReport
from scanner.cli import ScanArgs, run_scan, scan_parameters

__all__ = ["cancel_scan", "scan", "schedules"]


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
                       "settle": options.settle,
                       **({"extra_urls": list(options.extra_urls)} if options.extra_urls
                          else {})},
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


@click.group("schedules")
def schedules() -> None:
    """A site's scan schedules: list, add, remove (the admin's Scans page edits them too)."""


def _schedule_line(schedule: Any, urls: list[str]) -> str:
    from .services.schedules import describe

    state = "" if schedule.enabled else " (off)"
    nxt = schedule.next_run_at.strftime("%Y-%m-%d %H:%M UTC") if schedule.next_run_at else "-"
    more = f" + {len(urls) - 1} more" if len(urls) > 1 else ""
    return (f"{schedule.id}\t{describe(schedule)}{state}\tnext {nxt}\t{urls[0]}{more}\t"
            f"{schedule.max_pages} pages\t{','.join(schedule.passes)}")


@schedules.command("list")
@click.option("--site", "site_key", required=True, help="The site's public key.")
def list_schedules(site_key: str) -> None:
    """One line per schedule: id, when, next run, pages, budget, passes."""
    from . import cli
    from .errors import CmpError
    from .services import schedules as service
    from .services import sites

    async def work() -> list[str]:
        site = await sites.get_site(site_key)
        return [_schedule_line(s, service.job_urls(site, s))
                for s in await service.list_schedules(site)]

    try:
        lines = cli._with_db(cli._settings(), work)
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo("\n".join(lines) if lines else f"{site_key} has no scan schedule")


@schedules.command("add")
@click.option("--site", "site_key", required=True, help="The site's public key.")
@click.option("--url", default=None, help="Start URL (default: https://FIRST-DOMAIN/).")
@click.option("--page", "pages", multiple=True, metavar="URL",
              help="Also crawl this page, linked or not (repeatable).")
@click.option("--all-domains", is_flag=True, help="Every domain's start page as well.")
@click.option("--max-pages", default=30, show_default=True, type=int, help="Page budget.")
@click.option("--passes", default="none,accept,reject", show_default=True,
              help="Comma-separated passes.")
@click.option("--frequency", default="daily", show_default=True,
              type=click.Choice(["every_6_hours", "every_12_hours", "daily", "weekly",
                                 "monthly"]))
@click.option("--at", "time_of_day", default="03:00", show_default=True,
              help="Time of day, HH:MM UTC.")
@click.option("--weekday", default=0, show_default=True, type=click.IntRange(0, 6),
              help="Weekly: 0 Monday … 6 Sunday.")
@click.option("--day", "day_of_month", default=1, show_default=True,
              type=click.IntRange(1, 28), help="Monthly: the day, 1-28.")
@click.option("--off", is_flag=True, help="Keep it turned off.")
def add_schedule(site_key: str, url: str | None, pages: tuple[str, ...], all_domains: bool,
                 max_pages: int, passes: str, frequency: str, time_of_day: str, weekday: int,
                 day_of_month: int, off: bool) -> None:
    """Add a scan schedule (audited); print its line."""
    from pydantic import ValidationError

    from . import cli
    from .errors import CmpError
    from .services import schedules as service
    from .services import sites
    from .validation import plain_message

    settings = cli._settings()
    try:
        change = service.ScheduleChange.model_validate({
            "start_url": url, "extra_urls": pages, "all_domains": all_domains,
            "max_pages": max_pages,
            "passes": tuple(p.strip() for p in passes.split(",") if p.strip()),
            "frequency": frequency, "time_of_day": time_of_day, "weekday": weekday,
            "day_of_month": day_of_month, "enabled": not off,
        })
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise click.ClickException(f"{where}: {plain_message(first)}") from None

    async def work() -> str:
        site = await sites.get_site(site_key)
        made = await service.create_schedule(
            site, change, allow_private=settings.allow_private_scan_targets)
        return _schedule_line(made, service.job_urls(site, made))

    try:
        click.echo(cli._with_db(settings, work))
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None


@schedules.command("remove")
@click.option("--site", "site_key", required=True, help="The site's public key.")
@click.argument("schedule_id", type=int)
def remove_schedule(site_key: str, schedule_id: int) -> None:
    """Remove a schedule (audited); the scans it queued stay."""
    from . import cli
    from .errors import CmpError
    from .services import schedules as service
    from .services import sites

    async def work() -> None:
        await service.delete_schedule(await sites.get_site(site_key), schedule_id)

    try:
        cli._with_db(cli._settings(), work)
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"schedule {schedule_id} removed")

"""``cmp-server``: the command line. A composition root: it knows every package."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import uvicorn
from pydantic import ValidationError

from . import cli_api, cli_proof, cli_scan, cli_site, cli_staff, db
from .settings import Settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # Each problem by its setting and message only: pydantic's own text repeats the input,
        # which for a model-wide check is every setting, the secret key included.
        problems = "; ".join(dict.fromkeys(
            (f"CMP_{str(e['loc'][0]).upper()}: " if e["loc"] else "")
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        ))
        raise click.ClickException(f"invalid settings: {problems}") from None


def _refuse_busy_port(host: str, port: int) -> None:
    """Say what to do, instead of uvicorn's traceback-free but terse exit, when the port is
    taken (another `make demo`, say)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As uvicorn binds: connections of a server killed a moment ago (TIME_WAIT) must not
        # keep its restart out; a socket still listening there refuses the bind all the same.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port} ({exc.strerror}): stop what runs there, or "
                f"choose another port: `cmp-server {click.get_current_context().info_name} "
                f"--port {port + 1}` (`make demo PORT={port + 1}`)"
            ) from None


def _with_db(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    async def run() -> T:
        url = settings.resolved_database_url
        await db.open_database(url, run_migrations=db.backend(url).migrates_on_open)
        try:
            return await work()
        finally:
            await db.close_database()

    try:
        return asyncio.run(run())
    except (db.SchemaOutOfDate, db.DatabaseUnreachable) as exc:
        raise click.ClickException(str(exc)) from None


def _check_schema(settings: Settings) -> None:
    url = settings.resolved_database_url
    if db.backend(url).migrates_on_open:
        return  # migrated by the server itself at start
    try:
        pending = asyncio.run(db.pending_migrations(url))
    except db.DatabaseUnreachable as exc:
        raise click.ClickException(str(exc)) from None
    if pending:
        raise click.ClickException(
            f"the database schema is behind ({', '.join(pending)}): run `cmp-server migrate`"
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api", "api_url", envvar="CMP_API_URL", default=None, metavar="URL",
              help="Run the command against this remote server's JSON admin API "
                   f"({', '.join(sorted(cli_api.REMOTE))}).")
@click.option("--token", envvar="CMP_API_TOKEN", default=None,
              help="The API token for --api (or CMP_API_TOKEN).")
@click.pass_context
def main(ctx: click.Context, api_url: str | None, token: str | None) -> None:
    """Self-hosted cookie consent platform: banner config, consent receipts, scanner."""
    if api_url is None:
        return
    if not token:
        raise click.UsageError("--api needs --token (or CMP_API_TOKEN)")
    if ctx.invoked_subcommand not in cli_api.REMOTE:
        raise click.UsageError(f"{ctx.invoked_subcommand} has no API equivalent: run it on "
                               "the server, without --api")
    ctx.obj = cli_api.Remote(api_url, token)


def _serve(settings: Settings, host: str, port: int, workers: int, extra: Any = None) -> None:
    from . import _serving
    from .app import create_app

    _check_schema(settings)
    _refuse_busy_port(host, port)
    # Timeouts and limits on connections: slow or oversized request heads, idle kept-alive
    # connections, how many at once (``_serving``; each worker sets them from the settings).
    _serving.configure(settings)
    bounds = _serving.uvicorn_options(settings)
    if workers > 1:
        uvicorn.run(
            "cmp_server.asgi:app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=False,
            access_log=False,
            log_config=_serving.log_config(),
            **bounds,
        )
        return
    # The scan worker in a process of its own: a scan's Python work (its report, its items'
    # diff and store) then never holds this process's interpreter while receipts wait.
    app = create_app(settings, extra_routes=extra, freeze_gc=True,
                     worker_process={"log_config": _serving.log_config()})
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=False,
        access_log=False,
        log_config=_serving.log_config(),
        **bounds,
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=int,
    help="uvicorn worker processes (PostgreSQL only; settings from CMP_* variables).",
)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the public API, the embed script and the admin on one port."""
    settings = _settings()
    if workers > 1 and not db.backend(settings.resolved_database_url).concurrent_writers:
        raise click.ClickException(
            "several workers need PostgreSQL (CMP_DATABASE_URL=postgres://…)"
        )
    # Proxy headers are handled by the app itself, only from CMP_TRUSTED_PROXIES.
    _serve(settings, host, port, workers)


@main.command()
def migrate() -> None:
    """Bring the database up to the newest schema (needed for PostgreSQL; SQLite does it itself)."""
    settings = _settings()
    try:
        asyncio.run(db.migrate(settings.resolved_database_url))
    except db.DatabaseUnreachable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("database is up to date")


@main.command("create-site")
@click.option("--name", required=True, help="The site's name, as staff see it.")
@click.option(
    "--domain",
    "domains",
    multiple=True,
    required=True,
    help="A domain the banner runs on (subdomains included). Repeat for several.",
)
@click.option("--policy-url", default=None, help="The site's cookie policy page.")
@click.option(
    "--force", is_flag=True, help="Create it even if another site already has a domain."
)
@click.option(
    "--publish/--no-publish",
    default=True,
    show_default=True,
    help="Publish the default banner at once, so the tag works immediately.",
)
def create_site(
    name: str, domains: tuple[str, ...], policy_url: str | None, force: bool, publish: bool
) -> None:
    """Create a site with the default purposes and texts; print its public key."""
    from .errors import CmpError, DomainClaimed
    from .services import publishing, sites

    settings = _settings()

    async def work() -> str:
        site = await sites.create_site(name, list(domains), policy_url=policy_url, force=force)
        if publish:
            await publishing.publish(site, published_by="cli")
        return site.key

    try:
        key = _with_db(settings, work)
    except DomainClaimed as exc:
        raise click.ClickException(exc.detail.replace("(force)", "(--force)")) from None
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(key)
    click.echo(
        f'<script src="{settings.public_base_url}/v1/sites/{key}/cmp.js"></script>', err=True
    )


@main.command("export-receipts")
@click.option("--site", "site_key", required=True, help="The site's public key.")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True
)
@click.option(
    "--from", "start", type=click.DateTime(), default=None, help="Recorded at or after (UTC)."
)
@click.option("--to", "end", type=click.DateTime(), default=None, help="Recorded before (UTC).")
@click.option("--out", type=click.File("wb"), default="-", show_default=True)
def export_receipts(
    site_key: str, fmt: str, start: datetime | None, end: datetime | None, out: Any
) -> None:
    """Export consent receipts, streamed (any number of rows in flat memory)."""
    from datetime import UTC

    from .errors import CmpError
    from .services.consent_log import ReceiptFilter
    from .services.export import begin_export
    from .services.sites import get_site

    if start and end and start > end:
        raise click.BadParameter(
            f"--from ({start:%Y-%m-%d %H:%M}) is later than --to ({end:%Y-%m-%d %H:%M})",
            param_hint="--from/--to",
        )
    if (remote := cli_api.remote()) is not None:
        cli_api.export_receipts(remote, site_key, fmt, start, end, out)
        return
    settings = _settings()

    async def work() -> None:
        site = await get_site(site_key)
        where = ReceiptFilter(start=start.replace(tzinfo=UTC) if start else None,
                              end=end.replace(tzinfo=UTC) if end else None)
        # On the audit log like the admin's exports (as "system": no staff account).
        stream = await begin_export(site, fmt, where, by=None)  # type: ignore[arg-type]
        async for chunk in stream:
            out.write(chunk)
        out.flush()

    try:
        _with_db(settings, work)
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None


@main.command("export-evidence")
@click.option("--site", "site_key", required=True, help="The site's public key.")
@click.option("--consent-id", default=None, help="One visitor's receipts (an access request).")
@click.option(
    "--from", "start", type=click.DateTime(), default=None, help="Recorded at or after (UTC)."
)
@click.option("--to", "end", type=click.DateTime(), default=None, help="Recorded before (UTC).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The bundle to write (a .zip).")
def export_evidence(
    site_key: str, consent_id: str | None, start: datetime | None, end: datetime | None,
    out: Path,
) -> None:
    """Write an evidence bundle anyone can check offline with `cmp-verify`: the receipts, the
    config versions they cite with their texts, signed checkpoints with proofs, public keys."""
    from datetime import UTC
    from uuid import UUID

    from .errors import CmpError
    from .services.evidence import Selection, export_bundle
    from .services.sites import get_site

    if consent_id is not None and (start or end):
        raise click.BadParameter("give --consent-id or --from/--to, not both")
    if start and end and start > end:
        raise click.BadParameter("--from is later than --to", param_hint="--from/--to")
    try:
        visitor = UUID(consent_id) if consent_id is not None else None
    except ValueError:
        raise click.BadParameter("not a consent id (a UUID)", param_hint="--consent-id") from None
    settings = _settings()
    selection = Selection(visitor, start.replace(tzinfo=UTC) if start else None,
                          end.replace(tzinfo=UTC) if end else None)

    async def work() -> Any:
        site = await get_site(site_key)
        with open(out, "wb") as handle:  # on the audit log as "system", like export-receipts
            return await export_bundle(site, selection, handle, by=None,
                                       public_url=settings.public_base_url, name=out.name)

    try:
        bundle = _with_db(settings, work)
    except CmpError as exc:
        out.unlink(missing_ok=True)
        raise click.ClickException(exc.detail) from None
    pending = bundle.pending
    click.echo(f"{out}: {bundle.receipts} receipts, {bundle.checkpoints} checkpoints")
    if pending:
        click.echo(f"{pending} receipts are newer than the last checkpoint and not proven yet:"
                   " `cmp-server checkpoint` first", err=True)


@main.command("purge-receipts")
def purge_receipts() -> None:
    """Delete receipts older than each site's retention period (the purge itself is logged)."""
    from .services.retention import purge_receipts as purge

    for result in _with_db(_settings(), lambda: purge(trigger="cli")):
        click.echo(f"{result.site_key}: {result.deleted} receipts purged")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def demo(host: str, port: int) -> None:
    """Create (once) a demo site on this machine and serve a page that carries its tag.

    The demo site accepts receipts from the names this server is reached by: with
    ``--host 0.0.0.0`` that includes this machine's network addresses, so a phone on the
    same network can try the banner."""
    from .demo import demo_hosts, demo_routes, ensure_demo_site

    settings = _settings()
    hosts = demo_hosts(host)
    shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    if "public_base_url" not in settings.model_fields_set:
        # Install snippets in the admin then name the address the demo really serves on.
        settings = settings.model_copy(update={"public_base_url": f"http://{shown}:{port}"})
    if "allow_private_scan_targets" not in settings.model_fields_set:
        # The demo site is this machine: its scans must reach it.
        settings = settings.model_copy(update={"allow_private_scan_targets": True})
    page_url = f"http://{shown}:{port}/demo/"
    site, login = _with_db(
        settings, lambda: ensure_demo_site(hosts, settings.data_dir, page_url,
                                           settings.signing_key_path)
    )
    click.echo(f"Demo site key: {site.key}")
    click.echo(f"Demo page:     http://{shown}:{port}/demo/")
    click.echo(f"Config:        http://{shown}:{port}/v1/sites/{site.key}/config")
    click.echo(f"Accepts receipts from pages on: {', '.join(site.domains)}")
    click.echo(f"Admin:         http://{shown}:{port}/admin/")
    click.echo(f"  sign in as   {login[0]}")
    click.echo(f"  password     {login[1]}")
    click.echo("Scans may reach this machine's own addresses (the demo site is one).")
    _serve(settings, host, port, 1, demo_routes(site.key))


@main.command("verify-receipts")
@click.option("--site", "site_key", required=True, help="The site's public key.")
def verify_receipts(site_key: str) -> None:
    """Recompute every receipt's hash chain, and check the site's log: every receipt in its
    tree, the stored checkpoints' signatures, roots and sequence (the checks `cmp-verify`
    makes of a bundle). Exit 1 if anything stored was altered, removed or put in late."""
    from cmp_verify.bundle import Report
    from cmp_verify.cli import summary

    from .errors import CmpError
    from .services import events
    from .services.proof_audit import audit_site
    from .services.sites import get_site
    from .services.verify import VerifyResult
    from .services.verify import verify_receipts as verify

    async def work() -> tuple[VerifyResult, Report]:
        site = await get_site(site_key)
        result, report = await verify(site), await audit_site(site)
        if result.problems or not report.ok:  # to the webhooks (and mail) that asked for it
            await events.emit(site, "verification.failed", {
                "checked": result.checked, "problems": len(result.problems),
                "log_problems": len(report.problems),
                "first": [f"{p.receipt_id}: {p.reason}" for p in result.problems[:20]]
                or [str(p) for p in report.problems[:20]],
                "admin_path": f"/admin/sites/{site.key}/consents",
            })
        return result, report

    try:
        result, report = _with_db(_settings(), work)
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    for problem in result.problems:
        click.echo(f"BROKEN {problem.consent_id} {problem.receipt_id}: {problem.reason}")
    click.echo(
        f"{result.checked} receipts in {result.chains} chains checked, "
        f"{len(result.problems)} problems"
    )
    click.echo(summary(report))
    if result.problems or not report.ok:
        sys.exit(1)


@main.command()
def worker() -> None:
    """Claim and run queued scan jobs until stopped (run several, on several hosts, with
    PostgreSQL; set CMP_RUN_WORKER=false on the web servers then)."""
    import signal

    from .worker import ScanWorker

    settings = _settings()

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await ScanWorker(settings, checkpointing=True).run_forever(stop)

    click.echo("scan worker started; Ctrl+C to stop", err=True)
    _with_db(settings, work)


@main.command("request-scan")
@click.option("--site", "site_key", required=True, help="The site's public key.")
@click.option("--url", default=None, help="Start URL (default: https://FIRST-DOMAIN/).")
@click.option("--max-pages", default=30, show_default=True, type=int)
def request_scan(site_key: str, url: str | None, max_pages: int) -> None:
    """Queue a scan of a site for the workers; print the job id."""
    if (remote := cli_api.remote()) is not None:
        cli_api.request_scan(remote, site_key, url, max_pages)
        return
    from .errors import CmpError
    from .services.scans import request_scan as request
    from .services.sites import get_site

    settings = _settings()

    async def work() -> int:
        site = await get_site(site_key)
        job = await request(
            site,
            start_url=url,
            max_pages=max_pages,
            requested_by="cli",
            allow_private=settings.allow_private_scan_targets,
        )
        return job.id

    try:
        click.echo(_with_db(settings, work))
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None


@main.command("scans")
@click.option("--site", "site_key", required=True, help="The site's public key.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 500))
def list_scans(site_key: str, limit: int) -> None:
    """Show a site's recent scans, their progress, and what the last scan changed."""
    if (remote := cli_api.remote()) is not None:
        cli_api.list_scans(remote, site_key, limit)
        return
    from .errors import CmpError
    from .services.scan_findings import ItemChange, latest_changes
    from .services.scan_history import scan_history
    from .services.sites import get_site

    def names(found: tuple[ItemChange, ...]) -> str:
        return ", ".join(f"{c.item.kind}:{c.item.name}" for c in found) or "none"

    async def work() -> list[str]:
        site = await get_site(site_key)
        lines = []
        for run in (await scan_history(site, limit=limit)).runs:
            p = run.progress
            lines.append(
                (f"job {run.job_id}" if run.job_id else f"scan {run.scan_id}")
                + f"  {run.status:<8} {run.start_url or '-'}  "
                f"pass {p.pass_ or '-'} {p.pages_done}/{p.pages_total} pages  "
                f"requested {run.requested_at:%Y-%m-%d %H:%M}"
                + (f" by {run.requested_by}" if run.requested_by else "")
                + (f"  violations {run.counts.get('violations', 0)}, possible "
                   f"{run.counts.get('review', 0)}" if run.scan_id else "")
                + (f"  error: {run.error}" if run.error else "")
                + (f" ({run.hint})" if run.hint else "")
            )
        changes = await latest_changes(site)
        if changes is not None:
            lines.append(
                f"last scan {changes.scan_id}: "
                + ("the first, nothing to compare with" if changes.first else
                   f"since scan {changes.previous_scan_id}: new items {names(changes.new_items)}"
                   f"; gone {names(changes.gone_items)}; changed "
                   f"{names(changes.changed_items)}; new violations "
                   + (", ".join(f"{v.pass_}:{v.kind}:{v.name}" for v in changes.new_violations)
                      or "none"))
            )
        return lines

    try:
        lines = _with_db(_settings(), work)
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo("\n".join(lines) if lines else "no scans yet")


@main.group()
def kb() -> None:
    """The tracker knowledge base the scanner attributes with."""


@kb.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def kb_import(csv_file: Path) -> None:
    """Import an Open Cookie Database CSV; scans use it after the built-in tables."""
    from scanner.kb import KnowledgeBaseError, import_open_cookie_database, write_rules

    settings = _settings()
    try:
        rules = import_open_cookie_database(csv_file)
    except (KnowledgeBaseError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    target = settings.data_dir / "kb" / f"{csv_file.stem}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_rules(rules, target)
    click.echo(f"imported {len(rules.rules)} rules from {csv_file.name} into {target}")


main.add_command(cli_staff.create_admin, "create-admin")
main.add_command(cli_staff.reset_two_factor, "reset-two-factor")
main.add_command(cli_proof.keys, "keys")
main.add_command(cli_proof.checkpoint, "checkpoint")
main.add_command(cli_scan.scan, "scan")
main.add_command(cli_scan.cancel_scan, "cancel-scan")
main.add_command(cli_scan.schedules, "schedules")
main.add_command(cli_api.create_token, "create-token")
main.add_command(cli_site.publish, "publish")
main.add_command(cli_site.inventory, "inventory")
main.add_command(cli_site.recount_consents, "recount-consents")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

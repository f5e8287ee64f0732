"""``cmp-server publish`` and ``cmp-server inventory``: the admin's publish summary and cookie
inventory for operators without the admin, through the same services the admin calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .services.changes import Change, Summary

__all__ = ["inventory", "publish", "recount_consents"]


def _db() -> Any:
    # Imported when a command runs: cli.py registers these commands and holds the helpers.
    from . import cli

    return cli


def _change_line(sign: str, change: Change) -> str:
    details = "; ".join(f"{f.field}: {f.before} -> {f.after}" for f in change.fields)
    return f"  {sign} {change.label}" + (f" ({details})" if details else "")


def summary_lines(summary: Summary) -> list[str]:
    """The publish summary as text: what changes against the published version, whether
    visitors choose again, and the lint's findings."""
    against = f"version {summary.published}" if summary.published else "nothing published yet"
    lines = [f"Draft of {summary.site_key} against {against}:"]
    changes = summary.changes
    if summary.unchanged:
        lines.append("  nothing to publish: the draft is the published version")
    for text in changes.texts:
        before = "(none)" if text.before is None else repr(text.before)
        after = "(none)" if text.after is None else repr(text.after)
        lines.append(f"  text {text.language}.{text.key}: {before} -> {after}")
    signs = {"added": "+", "removed": "-", "changed": "~"}
    for title, group in (("Purposes", changes.purposes), ("Vendors", changes.vendors),
                         ("Cookies", changes.cookies), ("Settings", changes.settings)):
        if group:
            lines.append(f"{title}:")
            lines.extend(_change_line(signs[c.kind], c) for c in group)
    if changes.material:
        lines.append("Visitors will be asked to choose again: what they consent to changed.")
    elif not summary.unchanged:
        lines.append("Visitors keep their choices: no purpose or vendor changed.")
    for finding in summary.findings:
        where = f" [{finding.language}]" if finding.language else ""
        lines.append(f"{finding.level}{where}: {finding.message}")
    return lines


@click.command()
@click.option("--site", "site_key", required=True, help="The site's public key.")
@click.option("--yes", is_flag=True, help="Publish without asking (scripts).")
@click.option("--dry-run", is_flag=True, help="Show the summary and the lint; publish nothing.")
def publish(site_key: str, yes: bool, dry_run: bool) -> None:
    """Show what publishing the draft changes, then publish it as a new config version."""
    from . import cli_api

    if (remote := cli_api.remote()) is not None:
        cli_api.publish(remote, site_key, yes, dry_run)
        return
    from .errors import CmpError
    from .services import changes, sites

    cli = _db()

    async def summarise() -> Summary:
        return await changes.publish_summary(await sites.get_site(site_key))

    settings = cli._settings()
    try:
        summary = cli._with_db(settings, summarise)
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo("\n".join(summary_lines(summary)))
    if summary.errors:
        raise click.ClickException("not published: fix the errors above first")
    if dry_run or summary.unchanged:
        return
    if not yes:
        click.confirm(f"Publish version {summary.number}?", abort=True)

    async def publish_it() -> int:
        site = await sites.get_site(site_key)
        version = await changes.publish_draft(site, expected=summary.fingerprint)
        return version.number

    try:
        number = cli._with_db(settings, publish_it)
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"published version {number}")


# What `cmp-server inventory` prints of an item, in this order, in every format.
COLUMNS = ("name", "match", "kind", "domain", "vendor", "purpose", "duration_days", "party",
           "source", "review_status", "flag", "first_seen", "last_seen", "missing_since",
           "suggested_purpose", "suggested_vendor")
# The table's columns and widths (longer values are cut with an ellipsis).
TABLE = (("name", 32), ("kind", 14), ("domain", 24), ("vendor", 20), ("purpose", 12),
         ("duration_days", 8), ("party", 5), ("review_status", 10), ("flag", 9))


def item_record(row: Any) -> dict[str, Any]:
    """An item as the command prints it, from a list row (or, with ``--api``, the API's
    JSON of one, its times as text)."""
    from datetime import datetime

    from ._utils import rfc3339

    record: dict[str, Any] = {
        "name": row.name, "match": row.match, "kind": row.kind, "domain": row.domain,
        "vendor": row.vendor_key, "purpose": row.purpose_key,
        "duration_days": row.duration_days, "party": row.party, "source": row.source,
        "review_status": row.review_status, "flag": row.flag,
        "suggested_purpose": row.suggested_purpose, "suggested_vendor": row.suggested_vendor,
    }
    for name in ("first_seen", "last_seen", "missing_since"):
        value = getattr(row, name)
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        record[name] = rfc3339(value) if value else None
    return record


def _cell(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    return (text if len(text) <= width else text[: width - 1] + "…").ljust(width)


class _Printer:
    """Writes the items as a table, JSON or CSV, one at a time."""

    def __init__(self, fmt: str, out: Any) -> None:
        import csv

        self.fmt, self.out, self.count = fmt, out, 0
        self.writer = csv.writer(out, lineterminator="\n")
        if fmt == "csv":
            self.writer.writerow(COLUMNS)
        elif fmt == "table":
            out.write("  ".join(_cell(name, width) for name, width in TABLE).rstrip() + "\n")
        elif fmt == "json":
            out.write("[")

    def row(self, row: Any) -> None:
        import orjson

        from .services.export import csv_safe

        record = item_record(row)
        if self.fmt == "csv":
            self.writer.writerow(csv_safe(record[c]) for c in COLUMNS)
        elif self.fmt == "json":
            self.out.write(("," if self.count else "") + "\n  " + orjson.dumps(record).decode())
        else:
            self.out.write("  ".join(_cell(record[n], w) for n, w in TABLE).rstrip() + "\n")
        self.count += 1

    def end(self) -> int:
        if self.fmt == "json":
            self.out.write("\n]\n" if self.count else "]\n")
        return self.count


@click.command()
@click.option("--site", "site_key", required=True, help="The site's public key.")
@click.option("--unreviewed", is_flag=True, help="Only the items waiting for review.")
@click.option("--flag", type=click.Choice(["violation", "review"]), default=None,
              help="Only items the latest scan saw before consent (review: unclassified).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
def inventory(site_key: str, unreviewed: bool, flag: str | None, fmt: str) -> None:
    """List a site's cookie inventory (read in batches: any size in flat memory)."""
    import sys

    from . import cli_api
    from .errors import CmpError
    from .services import sites
    from .services.inventory import ItemQuery, iter_items

    if (remote := cli_api.remote()) is not None:
        printer = _Printer(fmt, sys.stdout)
        for row in cli_api.inventory_rows(remote, site_key, unreviewed, flag):
            printer.row(row)
        count = printer.end()
    else:
        cli = _db()
        query = ItemQuery(status="unreviewed" if unreviewed else None, flag=flag)  # type: ignore[arg-type]

        async def work() -> int:
            site = await sites.get_site(site_key)
            printer = _Printer(fmt, sys.stdout)
            async for row in iter_items(site, query):
                printer.row(row)
            return printer.end()

        try:
            count = cli._with_db(cli._settings(), work)
        except CmpError as exc:
            raise click.ClickException(exc.detail) from None
    if fmt == "table":
        click.echo(f"{count} item{'' if count == 1 else 's'}", err=True)


@click.command("recount-consents")
@click.option("--site", "site_key", default=None, help="One site's key (default: every site).")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First UTC day to recount (default: the first after the last purge).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Last UTC day to recount, included.")
def recount_consents(site_key: str | None, start: Any, end: Any) -> None:
    """Recount the consent-rate counters from the stored receipts (once after upgrading a
    database whose servers ran older code side by side; a recount of right counters changes
    nothing)."""
    from .errors import CmpError
    from .services import counters, sites

    if start and end and start > end:
        raise click.BadParameter("--from is later than --to", param_hint="--from/--to")
    cli = _db()

    async def work() -> list[str]:
        chosen = [await sites.get_site(site_key)] if site_key else await sites.list_sites()
        lines = []
        for site in chosen:
            result = await counters.recount(
                site, start.date() if start else None, end.date() if end else None)
            days = f" ({result.start} to {result.end})" if result.start else ""
            lines.append(f"{result.site_key}: {result.receipts} receipts counted, "
                         f"{result.rows} counter rows{days}")
        return lines

    try:
        lines = cli._with_db(cli._settings(), work)
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo("\n".join(lines) if lines else "no sites")

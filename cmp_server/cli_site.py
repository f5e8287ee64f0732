"""``cmp-server publish`` and ``cmp-server inventory``: the admin's publish summary and cookie
inventory for operators without the admin, through the same services the admin calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .services.changes import Change, Summary

__all__ = ["publish"]


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

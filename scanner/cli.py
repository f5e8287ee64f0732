"""``scan URL``: the command ``cmp-server scan`` mounts, also ``python -m scanner scan``.

Human output (progress bar, summary tables) goes to the terminal; the JSON report goes to
``--out`` (``-`` for stdout, which then moves the tables to stderr).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ._models import PassName, ScanOptions, ScanProgress, ScanReport
from ._scan import scan_site
from ._summary import render_summary
from .errors import ScanError

__all__ = ["ScanArgs", "cli", "main", "run_scan", "scan", "scan_parameters"]

_PASSES = get_args(PassName)


def _parse_passes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    passes = tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip()))
    unknown = [p for p in passes if p not in _PASSES]
    if unknown or not passes:
        raise click.BadParameter(f"choose from {','.join(_PASSES)}; got {value!r}")
    return passes


def _run(options: ScanOptions, console: Console) -> ScanReport:
    total = options.max_pages * len(options.passes)
    with Progress(
        TextColumn("[bold]{task.fields[stage]:<7}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[url]}", style="dim"),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("scan", total=total, stage="start", url="")
        done: dict[str, int] = {}
        estimate: dict[str, int] = {}

        def on_progress(event: ScanProgress) -> None:
            if event.pass_ is not None:
                done[event.pass_] = event.pages_done
                estimate[event.pass_] = event.pages_total
            remaining = len(options.passes) - len(estimate)
            expected = sum(estimate.values()) + remaining * max(estimate.values(), default=0)
            bar.update(
                task,
                completed=sum(done.values()),
                total=max(expected, sum(done.values()), 1),
                stage=event.pass_ or event.phase,
                url=(event.url or "")[-60:],
            )

        return asyncio.run(scan_site(options, on_progress))


def scan_parameters(command: Callable[..., None]) -> Callable[..., None]:
    """The scan command's argument and options (``cmp-server scan`` adds its own to them)."""
    for decorator in reversed((
        click.argument("url"),
        click.option("--max-pages", type=click.IntRange(1), default=30, show_default=True,
                     help="Page budget per pass."),
        click.option("--page", "pages", multiple=True, metavar="URL",
                     help="Also visit this page, linked or not (repeatable; counts against "
                     "the page budget)."),
        click.option("--passes", default="none,accept,reject", show_default=True,
                     callback=_parse_passes, help="Comma-separated passes to run."),
        click.option("--concurrency", type=click.IntRange(1, 16), default=2, show_default=True,
                     help="Pages open at once in a pass."),
        click.option("--timeout", type=click.FloatRange(min=1), default=30.0, show_default=True,
                     help="Per-page navigation timeout, seconds."),
        click.option("--settle", type=click.FloatRange(min=0), default=3.0, show_default=True,
                     help="Extra seconds per page for late scripts."),
        click.option("--out", "out", default=None, metavar="FILE|-",
                     help="Write the JSON report here ('-' for stdout)."),
        click.option("--ignore-https-errors", is_flag=True,
                     help="Accept invalid certificates (staging sites)."),
        click.option("--browser-arg", "browser_args", multiple=True, metavar="ARG",
                     help="Extra Chromium argument, repeatable (proxy, "
                     "--host-resolver-rules=...)."),
        click.option("--chromium", type=click.Path(dir_okay=False), default=None,
                     help="Chromium binary to use (default: system Chromium, then "
                     "Playwright's)."),
        click.option("--kb", "kb_files", multiple=True, type=click.Path(
            exists=True, dir_okay=False, path_type=Path),
            help="Extra knowledge-base file, repeatable."),
        click.option("--no-sitemap", is_flag=True, help="Do not read robots.txt and sitemaps."),
        click.option("--fail-on-violations", is_flag=True,
                     help="Exit with status 3 when the report has violations (for CI)."),
    )):
        command = decorator(command)
    return command


@dataclass(frozen=True)
class ScanArgs:
    """What the scan command was given."""

    url: str
    max_pages: int
    pages: tuple[str, ...]
    passes: tuple[PassName, ...]
    concurrency: int
    timeout: float
    settle: float
    out: str | None
    ignore_https_errors: bool
    browser_args: tuple[str, ...]
    chromium: str | None
    kb_files: tuple[Path, ...]
    no_sitemap: bool
    fail_on_violations: bool

    def options(self, **overrides: Any) -> ScanOptions:
        if len(self.pages) >= self.max_pages:
            raise click.BadParameter(
                f"{len(self.pages)} pages and the start page need --max-pages "
                f"{len(self.pages) + 1} or more", param_hint="--page")
        return ScanOptions.model_validate({
            "start_url": self.url,
            "max_pages": self.max_pages,
            "extra_urls": self.pages,
            "passes": self.passes,
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "settle": self.settle,
            "ignore_https_errors": self.ignore_https_errors,
            "browser_args": self.browser_args,
            "chromium": self.chromium,
            "kb_files": self.kb_files,
            "use_sitemap": not self.no_sitemap,
            **overrides,
        })


def run_scan(
    args: ScanArgs,
    options: ScanOptions,
    after: Callable[[ScanReport, Console], None] | None = None,
) -> None:
    """Scan with a progress bar, hand the report to ``after`` (``cmp-server scan --site``
    stores it), write it to ``--out``, print the summary; exit 3 on violations if asked."""
    human = Console(stderr=args.out == "-")
    if not human.is_terminal:
        human.width = 160  # a log file or CI: wide rows beat wrapped ones
    try:
        report = _run(options, human)
    except ScanError as exc:
        raise click.ClickException(str(exc)) from exc
    if after is not None:
        after(report, human)
    document = report.model_dump_json(indent=2)
    if args.out == "-":
        sys.stdout.write(document + "\n")
        sys.stdout.flush()
    elif args.out:
        Path(args.out).write_text(document + "\n", encoding="utf-8")
    render_summary(report, human)
    if args.out and args.out != "-":
        human.print(f"Report written to {args.out}")
    if args.fail_on_violations and report.violations:
        sys.exit(3)


@click.command("scan")
@scan_parameters
def scan(**given: Any) -> None:
    """Scan URL before consent, after accept and after reject; report what it sets."""
    args = ScanArgs(**given)
    run_scan(args, args.options())


# ``python -m scanner scan URL``: a group, so it reads like ``cmp-server scan URL``.
cli = click.Group("scanner", help="Cookie and tracker scanner.", commands=[scan])


def main() -> None:
    cli()

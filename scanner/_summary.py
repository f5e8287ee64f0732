"""The human summary of a report: what was found, by whom, and what fired too early.

Violations (a known non-necessary purpose) and possible violations (nothing classifies the
item: a person must) are two tables, never one: a false alarm read as a violation costs the
report its reader's trust.
"""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ._models import PossibleViolation, ReportItem, ScanReport, Violation

__all__ = ["render_summary"]

_STYLE = {
    "necessary": "green",
    "preferences": "cyan",
    "statistics": "yellow",
    "marketing": "red",
    "unclassified": "magenta",
}
_ORDER = list(_STYLE)


def _names(items: list[ReportItem], limit: int = 6) -> str:
    names = sorted({i.name for i in items})
    more = f" +{len(names) - limit}" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _pages(report: ScanReport) -> Table:
    table = Table(title="Pages", title_justify="left")
    table.add_column("pass")
    table.add_column("visited", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("banner")
    for name in report.passes:
        pages = [p for p in report.pages if p.pass_ == name]
        failed = sum(1 for p in pages if p.error)
        table.add_row(name, str(len(pages)), str(failed), report.consent.get(name, ""))
    return table


def _items(report: ScanReport) -> Table:
    table = Table(title="Cookies and storage by category and vendor", title_justify="left")
    for column in ("category", "vendor", "cookies", "storage", "party", "passes", "names"):
        table.add_column(column, justify="right" if column in ("cookies", "storage") else "left")
    groups: dict[tuple[str, str], list[ReportItem]] = defaultdict(list)
    for item in report.items:
        groups[(item.category, item.vendor_name or item.vendor or "-")].append(item)
    for (category, vendor), items in sorted(
        groups.items(), key=lambda g: (_ORDER.index(g[0][0]), g[0][1].lower())
    ):
        cookies = sum(1 for i in items if i.kind == "cookie")
        seen = {p for i in items for p in i.passes}
        passes = [p for p in ("none", "accept", "reject") if p in seen]
        table.add_row(
            Text(category, style=_STYLE[category]),
            vendor,
            str(cookies),
            str(len(items) - cookies),
            "/".join(sorted({i.party for i in items})),
            ",".join(passes),
            _names(items),
        )
    return table


def _requests(report: ScanReport) -> Table:
    table = Table(title="Tracker requests", title_justify="left")
    for column in ("host", "vendor", "category", "passes", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for r in report.requests:
        table.add_row(
            r.host,
            r.vendor_name or r.vendor or "-",
            Text(r.category, style=_STYLE[r.category]),
            ",".join(r.passes),
            str(r.count),
        )
    return table


_WHEN = {"none": "before consent", "reject": "after reject"}


def _findings(
    findings: tuple[Violation, ...] | tuple[PossibleViolation, ...], title: str, style: str
) -> Table:
    # One row per item: the passes it broke say when (before consent, after reject).
    rows: dict[tuple[str, str, str, str, str], list[str]] = defaultdict(list)
    for v in findings:
        rows[(v.category, v.kind, v.name, v.domain, v.vendor or "-")].append(v.pass_)
    table = Table(title=f"{title} ({len(rows)} items or trackers)", title_justify="left",
                  title_style=style)
    for column in ("category", "kind", "name", "domain", "vendor", "seen"):
        table.add_column(column)
    for (category, kind, name, domain, vendor), passes in sorted(
        rows.items(), key=lambda r: (_ORDER.index(r[0][0]), r[0][1], r[0][2])
    ):
        table.add_row(Text(category, style=_STYLE[category]), kind, name, domain, vendor,
                      ", ".join(_WHEN[p] for p in passes))
    return table


def _violations(report: ScanReport) -> Table | Text:
    if not report.violations:
        return Text("No violations: nothing known to be beyond necessary before consent or "
                    "after reject.", style="bold green")
    return _findings(report.violations, "Violations", "bold red")


def _review(report: ScanReport) -> Table | Text:
    if not report.review:
        return Text("Nothing to review: every item seen before consent or after reject is "
                    "classified.", style="green")
    table = _findings(report.review, "Possible violations: unclassified, classify them",
                      "bold magenta")
    table.caption = "Not known to be necessary, nor known not to be: map each to a purpose."
    return table


def _refused(report: ScanReport) -> Text:
    if not report.refused_writes:
        return Text("")
    names = sorted({f"{r.name} ({r.domain})" for r in report.refused_writes})
    more = f" +{len(names) - 6}" if len(names) > 6 else ""
    return Text(f"{len(report.refused_writes)} cookie writes refused by the browser, not "
                f"reported as cookies: {', '.join(names[:6])}{more}", style="dim")


def render_summary(report: ScanReport, console: Console) -> None:
    duration = (report.finished_at - report.started_at).total_seconds()
    console.print(
        Group(
            Text(f"Scan of {report.start_url} ({duration:.0f} s)", style="bold"),
            _pages(report),
            _items(report),
            _requests(report),
            _violations(report),
            _review(report),
            _refused(report),
        )
    )

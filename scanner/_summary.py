"""The human summary of a report: what was found, by whom, and what fired too early."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ._models import ReportItem, ScanReport

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


def _violations(report: ScanReport) -> Table | Text:
    if not report.violations:
        return Text("No violations: nothing beyond necessary before consent or after reject.",
                    style="bold green")
    # One row per item: the passes it broke say when (before consent, after reject).
    rows: dict[tuple[str, str, str, str, str], list[str]] = defaultdict(list)
    for v in report.violations:
        rows[(v.category, v.kind, v.name, v.domain, v.vendor or "-")].append(v.pass_)
    table = Table(title=f"Violations ({len(rows)} items or trackers)", title_justify="left",
                  title_style="bold red")
    for column in ("category", "kind", "name", "domain", "vendor", "seen"):
        table.add_column(column)
    when = {"none": "before consent", "reject": "after reject"}
    for (category, kind, name, domain, vendor), passes in sorted(
        rows.items(), key=lambda r: (_ORDER.index(r[0][0]), r[0][1], r[0][2])
    ):
        table.add_row(Text(category, style=_STYLE[category]), kind, name, domain, vendor,
                      ", ".join(when[p] for p in passes))
    return table


def render_summary(report: ScanReport, console: Console) -> None:
    duration = (report.finished_at - report.started_at).total_seconds()
    console.print(
        Group(
            Text(f"Scan of {report.start_url} ({duration:.0f} s)", style="bold"),
            _pages(report),
            _items(report),
            _requests(report),
            _violations(report),
        )
    )

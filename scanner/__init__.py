"""Scan a website like a visitor and report what it stores and sends, before and after consent.

    from scanner import ScanOptions, scan_site
    report = await scan_site(ScanOptions(start_url="https://www.example.com/", max_pages=20))
    report.violations      # a known non-necessary purpose before consent or after reject
    report.review          # unclassified items seen then: possible violations, classify them
    report.consent_blocking  # what our own banner held back until consent, per page
    report.limits          # the limits (ScanOptions.limits) the site reached, what each left out
    report.model_dump_json()

Usable alone (``python -m scanner scan URL``); imports nothing else of the project.
"""

from typing import TYPE_CHECKING, Any

from ._limits import limit_report
from ._models import (
    Category,
    HeldResource,
    ItemKind,
    LimitHit,
    Page,
    Party,
    PassName,
    PossibleViolation,
    RefusedWrite,
    ReportItem,
    ScanLimits,
    ScanOptions,
    ScanProgress,
    ScanReport,
    SetBy,
    TrackerRequest,
    Violation,
)
from .errors import (
    BrowserError,
    InvalidTargetError,
    KnowledgeBaseLoadError,
    PrivateTargetError,
    ScanError,
    TargetError,
    UnresolvableTargetError,
)
from .targets import check_public_target

if TYPE_CHECKING:
    from ._scan import scan_site


def __getattr__(name: str) -> Any:
    # The crawler (and Playwright under it) loads on first use, not with the report's models:
    # the server's services read reports and the knowledge base without a browser.
    if name == "scan_site":
        from ._scan import scan_site

        return scan_site
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BrowserError",
    "Category",
    "HeldResource",
    "InvalidTargetError",
    "ItemKind",
    "KnowledgeBaseLoadError",
    "LimitHit",
    "Page",
    "Party",
    "PassName",
    "PossibleViolation",
    "PrivateTargetError",
    "RefusedWrite",
    "ReportItem",
    "ScanError",
    "ScanLimits",
    "ScanOptions",
    "ScanProgress",
    "ScanReport",
    "SetBy",
    "TargetError",
    "TrackerRequest",
    "UnresolvableTargetError",
    "Violation",
    "check_public_target",
    "limit_report",
    "scan_site",
]

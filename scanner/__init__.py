"""Scan a website like a visitor and report what it stores and sends, before and after consent.

    from scanner import ScanOptions, scan_site
    report = await scan_site(ScanOptions(start_url="https://www.example.com/", max_pages=20))
    report.violations      # a known non-necessary purpose before consent or after reject
    report.review          # unclassified items seen then: possible violations, classify them
    report.model_dump_json()

Usable alone (``python -m scanner scan URL``); imports nothing else of the project.
"""

from ._models import (
    Category,
    ItemKind,
    Page,
    Party,
    PassName,
    PossibleViolation,
    RefusedWrite,
    ReportItem,
    ScanOptions,
    ScanProgress,
    ScanReport,
    SetBy,
    TrackerRequest,
    Violation,
)
from ._scan import scan_site
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

__all__ = [
    "BrowserError",
    "Category",
    "InvalidTargetError",
    "ItemKind",
    "KnowledgeBaseLoadError",
    "Page",
    "Party",
    "PassName",
    "PossibleViolation",
    "PrivateTargetError",
    "RefusedWrite",
    "ReportItem",
    "ScanError",
    "ScanOptions",
    "ScanProgress",
    "ScanReport",
    "SetBy",
    "TargetError",
    "TrackerRequest",
    "UnresolvableTargetError",
    "Violation",
    "check_public_target",
    "scan_site",
]

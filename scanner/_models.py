"""The scanner's public shapes: options in, progress out, the JSON report contract.

The report fields are the contract of issue 4 (item 7); fields beyond it are marked "extra".
Every model is frozen: a stage hands the next one finished values, never a shared dict.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, IPvAnyNetwork, model_validator

# The knowledge base's vocabulary is the report's: one definition of each.
from .kb._model import Category, Party

__all__ = [
    "Category",
    "HeldResource",
    "HeldState",
    "HeldType",
    "ItemKind",
    "LimitHit",
    "Page",
    "Party",
    "PassName",
    "PossibleViolation",
    "RefusedWrite",
    "ReportItem",
    "ScanOptions",
    "ScanLimits",
    "ScanProgress",
    "ScanReport",
    "SetBy",
    "TrackerRequest",
    "Violation",
]

PassName = Literal["none", "accept", "reject"]
ItemKind = Literal["cookie", "localStorage", "sessionStorage", "indexedDB"]
SetBy = Literal["http", "script", "unknown"]
SameSite = Literal["Strict", "Lax", "None"]
# How an item's vendor was decided: its name exactly, its name by a pattern (prefix or
# suffix), the host of the script or response that wrote it, the vendor host it lives on, or
# the site's own origin (the site wrote it: the vendor is the site); "none": nothing did.
AttributedBy = Literal["name", "pattern", "script-host", "host", "first-party", "none"]
# What our own banner's automatic blocking met (docs/contracts.md, ``window.cmp.blocked()``);
# values only ever added, as the embed adds them.
HeldType = Literal["script", "iframe", "img", "beacon", "fetch", "xhr"]
HeldState = Literal["held", "released", "dropped", "reported"]
ALL_PASSES: tuple[PassName, ...] = ("none", "accept", "reject")
_PASS = AliasChoices("pass", "pass_")


class _Frozen(BaseModel):
    # `pass` is a Python keyword: the attribute is `pass_`, the JSON key is "pass".
    model_config = ConfigDict(
        frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )


# What a limit bounds (``ScanLimits``); values only ever added.
LimitName = Literal[
    "items_per_pass", "storage_keys_per_origin", "value_chars", "report_bytes",
    "requests_per_pass",
]


class ScanLimits(_Frozen):
    """Bounds on everything the scanned site controls: a page may write a million storage
    keys, or a cookie name of a megabyte. What a limit leaves out is said in the report
    (``ScanReport.limits``); the defaults are far above what real sites set."""

    # Cookies and storage keys kept per pass (distinct), the first ones seen.
    items_per_pass: int = Field(default=1000, ge=1)
    # Distinct localStorage + sessionStorage + IndexedDB names kept per origin and pass.
    storage_keys_per_origin: int = Field(default=200, ge=1)
    # A name, domain, path, URL or script address is cut to this many characters.
    value_chars: int = Field(default=1000, ge=64)
    # The report as JSON: the longest lists are cut until it fits.
    report_bytes: int = Field(default=4_000_000, ge=64 * 1024)
    # Requests (and WebSockets) recorded per pass, the first ones made.
    requests_per_pass: int = Field(default=5000, ge=1)


class LimitHit(_Frozen):
    """A limit the scan reached: which, its value, and how much it left out (``left_out``
    storage keys, items, characters cut from values, requests, or list entries)."""

    limit: LimitName
    value: int
    left_out: int
    pass_: PassName | None = Field(default=None, validation_alias=_PASS,
                                   serialization_alias="pass")
    where: str | None = None  # the origin (storage keys), or the report list cut


class ScanOptions(_Frozen):
    """What to scan and how. Times are seconds."""

    start_url: str
    max_pages: int = Field(default=30, ge=1)
    # Pages visited besides those the links and sitemaps lead to, right after the start page
    # and within the page budget; their sites count as the scanned site's (a site on
    # several domains).
    extra_urls: tuple[str, ...] = Field(default=(), max_length=1000)
    passes: tuple[PassName, ...] = ALL_PASSES
    concurrency: int = Field(default=2, ge=1, le=16)
    timeout: float = Field(default=30.0, gt=0, description="per-page navigation timeout")
    settle: float = Field(default=3.0, ge=0, description="extra wait for late scripts")
    idle_timeout: float = Field(default=5.0, ge=0, description="cap on waiting for network idle")
    consent_timeout: float = Field(default=6.0, ge=0, description="cap on finding a banner")
    ignore_https_errors: bool = False
    browser_args: tuple[str, ...] = ()
    chromium: str | None = None
    kb_files: tuple[Path, ...] = ()
    use_sitemap: bool = True
    headless: bool = True
    public_only: bool = Field(
        default=False,
        description="abort every request to a host that is not on the public internet "
        "(server-requested scans: a public page may redirect or link into the server's network)",
    )
    public_networks: tuple[IPvAnyNetwork, ...] = Field(
        default=(), description="with public_only, networks to treat as public all the same"
    )
    limits: ScanLimits = Field(default_factory=ScanLimits)

    @model_validator(mode="after")
    def _extra_within_budget(self) -> ScanOptions:
        if len(self.extra_urls) >= self.max_pages:
            raise ValueError(f"{len(self.extra_urls)} extra pages and the start page need a "
                             f"page budget of {len(self.extra_urls) + 1}, not {self.max_pages}")
        return self


class ScanProgress(_Frozen):
    """One event for a progress bar: a page finished (or the phase changed)."""

    phase: Literal["discover", "visit", "inspect", "done"]
    pass_: PassName | None = Field(default=None, validation_alias=_PASS, serialization_alias="pass")
    url: str | None = None
    # Pages of the pass in progress: done of total. In the first pass, which finds the pages,
    # the total is the page budget (``discovering``): how many there are is not known yet.
    pages_done: int = 0
    pages_total: int = 0
    failed: bool = False
    pass_number: int = 0  # 1 for the first pass of the scan
    passes: int = 0  # how many passes the scan makes
    discovering: bool = False


class Page(_Frozen):
    url: str
    status: int | None
    pass_: PassName = Field(validation_alias=_PASS, serialization_alias="pass")
    error: str | None = None  # extra: why the page failed; the scan goes on
    final_url: str | None = None  # extra: after redirects


class ReportItem(_Frozen):
    kind: ItemKind
    name: str
    domain: str
    path: str | None
    party: Party
    vendor: str | None
    category: Category
    passes: tuple[PassName, ...]
    first_seen_url: str
    set_by: SetBy
    initiator: str | None
    expires_days: float | None  # None: a session cookie, or storage
    http_only: bool | None
    secure: bool | None
    same_site: SameSite | None
    # extra: how the item was attributed, so a reviewer can judge the suggestion.
    attributed_by: AttributedBy = "none"
    rule: str | None = None
    description: str | None = None
    vendor_name: str | None = None
    kb_duration_days: float | None = None


class TrackerRequest(_Frozen):
    host: str
    vendor: str | None
    category: Category
    passes: tuple[PassName, ...]
    example_url: str
    count: int = 0  # extra
    first_seen_url: str | None = None  # extra: the page that sent it
    vendor_name: str | None = None  # extra


class _Finding(_Frozen):
    pass_: PassName = Field(validation_alias=_PASS, serialization_alias="pass")
    kind: Literal["cookie", "localStorage", "sessionStorage", "indexedDB", "request"]
    name: str
    domain: str
    vendor: str | None
    category: Category
    reason: str
    url: str | None = None  # extra: where it was seen


class Violation(_Finding):
    """An item or tracker request of a known non-necessary purpose, seen in ``none`` or
    ``reject``."""


class PossibleViolation(_Finding):
    """An item or request nothing classifies, seen in ``none`` or ``reject``: it is a
    violation unless a person classifies it as necessary. Kept apart from violations."""


class RefusedWrite(_Frozen):
    """A cookie write the browser did not store: never an item, never a violation."""

    name: str
    domain: str  # as attempted: ".co.uk" for a Domain attribute, else the host
    set_by: Literal["http", "script"]
    initiator: str | None
    reason: str
    passes: tuple[PassName, ...]
    first_seen_url: str
    count: int = 1


class HeldResource(_Frozen):
    """A resource our own banner's automatic blocking met on a page, as ``window.cmp.blocked()``
    said once the page had settled (in the ``accept`` pass: after the answer): ``held`` until
    consent, ``released`` on consent, ``dropped`` (a fetch or XHR failed as a network error) or
    ``reported`` (report-only mode: not blocked). The page wrote it: bounded, never trusted."""

    pass_: PassName = Field(validation_alias=_PASS, serialization_alias="pass")
    page_url: str
    url: str
    type: HeldType
    purposes: tuple[str, ...]
    rule_host: str  # the rule that decided: its host and path prefix ("" for every path)
    rule_path: str
    state: HeldState


class ScanReport(_Frozen):
    start_url: str
    started_at: datetime
    finished_at: datetime
    pages: tuple[Page, ...]
    items: tuple[ReportItem, ...]
    requests: tuple[TrackerRequest, ...]
    violations: tuple[Violation, ...]
    # extra
    review: tuple[PossibleViolation, ...] = ()
    refused_writes: tuple[RefusedWrite, ...] = ()
    passes: tuple[PassName, ...] = ()
    consent: dict[str, str] = Field(default_factory=dict)  # pass -> how the banner was handled
    # what the public_only proxy refused: a URL, or host:port for an https/WebSocket tunnel;
    # and, in a public_only scan, each WebRTC connection a page tried ("webrtc stun:host:port",
    # "webrtc <page origin>" without an ICE server): WebRTC is off there, its UDP would not
    # go through the proxy
    blocked: tuple[str, ...] = ()
    # what our own banner held back until consent, per pass and page (absent: not our banner,
    # or a report stored before scanner 3)
    consent_blocking: tuple[HeldResource, ...] = ()
    # the limits the scan reached and what each left out ([]: none; ScanLimits)
    limits: tuple[LimitHit, ...] = ()
    # 2: unclassified findings moved from violations to review; 3: consent_blocking;
    # 4: limits
    scanner: str = "cmp-scanner/4"

"""Inspect: turn what the passes observed into attributed items, tracker requests, findings.

Only what the browser kept is an item (``_jar.py`` decides which cookies that is); the writes
it refused are listed apart in ``refused_writes``.

Attribution order for every item, stopping at the first that answers:
  1. the knowledge base knows the name (cookie name / storage key, exact or a pattern);
  2. the writer is known: the script that wrote it (from the stack) or the response that set
     it, by its host and path;
  3. the writer is the site itself (its host is on the site's registrable domain): the
     vendor is the site, the purpose stays for review;
  4. the item lives on a known vendor's host (a third-party cookie domain, an iframe origin);
  5. nothing: ``unclassified`` with no vendor, for a person to review.

Findings, for items and tracker requests seen in the ``none`` pass (before any answer) or the
``reject`` pass: a known non-necessary purpose is a violation; an unclassified one is a
possible violation, listed apart in ``review``: nobody can vouch for it, but nothing says it
is not necessary either, and a false alarm costs the report its reader's trust.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ._jar import kept_cookies, pass_order
from ._models import (
    AttributedBy,
    Category,
    PassName,
    PossibleViolation,
    RefusedWrite,
    ReportItem,
    TrackerRequest,
    Violation,
    _Finding,
)
from ._records import PassCapture, RequestRecord, StorageRecord
from ._site import host_of, in_site, registrable_domain
from .kb import KnowledgeBase, Match, Vendor

__all__ = ["Inspection", "inspect"]

_BEFORE = {"none": "before consent", "reject": "after the visitor rejected"}


@dataclass(frozen=True, slots=True)
class Inspection:
    items: list[ReportItem]
    requests: list[TrackerRequest]
    violations: list[Violation]
    review: list[PossibleViolation]
    refused: list[RefusedWrite]


@dataclass
class _Attribution:
    vendor: Vendor | None = None
    category: Category = "unclassified"
    by: AttributedBy = "none"
    rule: str | None = None
    description: str | None = None
    duration_days: float | None = None


@dataclass
class _Builder:
    kb: KnowledgeBase
    sites: set[str]
    now: float = field(default_factory=time.time)
    _host_cache: dict[tuple[str, str], Vendor | None] = field(default_factory=dict)
    _sites: dict[str, Vendor] = field(default_factory=dict)

    def vendor_for_url(self, url: str | None) -> Vendor | None:
        if not url:
            return None
        parts = urlsplit(url)
        return self.vendor_for_host(parts.hostname or "", parts.path or "/")

    def vendor_for_host(self, host: str, path: str = "/") -> Vendor | None:
        key = (host.lower().strip("."), path)
        if key not in self._host_cache:
            self._host_cache[key] = self.kb.match_host(key[0], path) if key[0] else None
        return self._host_cache[key]

    def first_party(self, host: str) -> bool:
        return any(in_site(host, site) for site in self.sites)

    def site_vendor(self, host: str) -> Vendor:
        """The scanned site as a vendor: what its own server and scripts store."""
        site = registrable_domain(host)
        if site not in self._sites:
            self._sites[site] = Vendor(
                key=site,  # a domain has dots, so it never collides with a knowledge-base key
                name=site,
                country=None,
                privacy_policy_url=None,
                transfers_outside_eea=False,
                transfer_basis=None,
                category="unclassified",
                hosts=(),
                description="The site itself: set by its own server or its own scripts.",
            )
        return self._sites[site]

    def attribute(
        self, match: Match | None, initiator: str | None, owner_host: str
    ) -> _Attribution:
        if match is not None:
            return _Attribution(
                vendor=match.vendor,
                category=match.category,
                by="name" if match.match == "exact" else "pattern",
                rule=match.rule,
                description=match.description or None,
                duration_days=match.duration_days,
            )
        vendor = self.vendor_for_url(initiator)
        if vendor is not None:
            return _Attribution(vendor, vendor.category, "script-host")
        writer = host_of(initiator) if initiator else ""
        if writer and self.first_party(writer):
            return _Attribution(self.site_vendor(writer), "unclassified", "first-party")
        if not self.first_party(owner_host):
            vendor = self.vendor_for_host(owner_host)
            if vendor is not None:
                return _Attribution(vendor, vendor.category, "host")
        return _Attribution()


_passes = pass_order


def _cookie_items(
    captures: list[PassCapture], b: _Builder
) -> tuple[list[ReportItem], list[RefusedWrite]]:
    kept, refused = kept_cookies(captures, b.now)
    items = []
    for c in kept:
        host = c.domain.lstrip(".")
        initiator = c.writer.initiator if c.writer else None
        a = b.attribute(b.kb.match_cookie(c.name, host), initiator, host)
        items.append(ReportItem(
            kind="cookie",
            name=c.name,
            domain=c.domain,
            path=c.path,
            party="first" if b.first_party(host) else "third",
            vendor=a.vendor.key if a.vendor else None,
            vendor_name=a.vendor.name if a.vendor else None,
            category=a.category,
            passes=c.passes,
            first_seen_url=c.writer.page_url if c.writer else c.seen_on,
            set_by=c.writer.via if c.writer else "unknown",
            initiator=initiator,
            expires_days=c.expires_days,
            http_only=c.http_only,
            secure=c.secure,
            same_site=c.same_site if c.same_site in ("Strict", "Lax", "None") else None,  # type: ignore[arg-type]
            attributed_by=a.by,
            rule=a.rule,
            description=a.description,
            kb_duration_days=a.duration_days,
        ))  # fmt: skip
    return items, refused


def _storage_items(captures: list[PassCapture], b: _Builder) -> list[ReportItem]:
    seen: dict[tuple[str, str, str], tuple[StorageRecord, list[PassName], str | None]] = {}
    for capture in captures:
        for s in capture.storage:
            key = (s.kind, s.name, s.host)
            record, passes, initiator = seen.setdefault(key, (s, [], s.initiator))
            if capture.name not in passes:
                passes.append(capture.name)
            if initiator is None and s.initiator:
                seen[key] = (record, passes, s.initiator)
    items = []
    for (kind, name, host), (record, passes, initiator) in seen.items():
        a = b.attribute(b.kb.match_storage(kind, name, host), initiator, host)
        items.append(
            ReportItem(
                kind=kind,  # type: ignore[arg-type]
                name=name,
                domain=host,
                path=None,
                party="first" if b.first_party(host) else "third",
                vendor=a.vendor.key if a.vendor else None,
                vendor_name=a.vendor.name if a.vendor else None,
                category=a.category,
                passes=_passes(passes),
                first_seen_url=record.page_url,
                set_by="script",
                initiator=initiator,
                expires_days=None,
                http_only=None,
                secure=None,
                same_site=None,
                attributed_by=a.by,
                rule=a.rule,
                description=a.description,
                kb_duration_days=a.duration_days,
            )
        )
    return items


@dataclass
class _RequestGroup:
    vendor: Vendor | None
    first: RequestRecord
    count: int = 0
    by_pass: dict[PassName, str] = field(default_factory=dict)  # pass -> an example URL

    def report(self) -> TrackerRequest:
        vendor = self.vendor
        return TrackerRequest(
            host=self.first.host,
            vendor=vendor.key if vendor else None,
            vendor_name=vendor.name if vendor else None,
            category=vendor.category if vendor else "unclassified",
            passes=_passes(self.by_pass),
            example_url=self.first.url,
            count=self.count,
            first_seen_url=self.first.page_url,
        )


def _requests(captures: list[PassCapture], b: _Builder) -> dict[str, _RequestGroup]:
    # Keyed by host and vendor: one host can serve two vendors by path (www.google.com:
    # /recaptcha is necessary, /pagead is advertising).
    groups: dict[str, _RequestGroup] = {}
    for capture in captures:
        for r in capture.requests:
            vendor = b.vendor_for_host(r.host, r.path)
            # An unknown third party that receives a beacon is reported for review.
            if vendor is None and (r.resource_type != "ping" or b.first_party(r.host)):
                continue
            group = groups.setdefault(f"{r.host} {vendor.key if vendor else ''}",
                                      _RequestGroup(vendor, r))
            group.count += 1
            group.by_pass.setdefault(capture.name, r.url)
    return groups


def _findings(
    items: list[ReportItem], requests: list[_RequestGroup]
) -> tuple[list[Violation], list[PossibleViolation]]:
    found: list[_Finding] = []
    for item in items:
        if item.category == "necessary":
            continue
        for p in item.passes:
            if p not in _BEFORE:
                continue
            if item.category == "unclassified":
                cls: type[_Finding] = PossibleViolation
                reason = f"unclassified {item.kind} set {_BEFORE[p]}: possible violation"
            else:
                cls, reason = Violation, f"{item.category} {item.kind} set {_BEFORE[p]}"
            found.append(cls(pass_=p, kind=item.kind, name=item.name, domain=item.domain,
                             vendor=item.vendor, category=item.category, reason=reason,
                             url=item.first_seen_url))
    for group in requests:
        req = group.report()
        if req.category == "necessary":
            continue
        for p, url in group.by_pass.items():
            if p not in _BEFORE:
                continue
            if req.category == "unclassified":
                cls = PossibleViolation
                reason = f"beacon to an unclassified third party {_BEFORE[p]}: possible violation"
            else:
                cls, reason = Violation, f"request to a {req.category} tracker {_BEFORE[p]}"
                if "gcs=G100" in url:
                    # Consent Mode's cookieless ping: no cookie, but data still goes to Google.
                    reason += " (consent-mode ping without cookies, gcs=G100)"
            found.append(cls(pass_=p, kind="request", name=req.host, domain=req.host,
                             vendor=req.vendor, category=req.category, reason=reason, url=url))
    return (
        [f for f in found if isinstance(f, Violation)],
        [f for f in found if isinstance(f, PossibleViolation)],
    )


def inspect(captures: list[PassCapture], kb: KnowledgeBase, sites: set[str]) -> Inspection:
    b = _Builder(kb, sites)
    cookies, refused = _cookie_items(captures, b)
    items = cookies + _storage_items(captures, b)
    items.sort(key=lambda i: (i.kind != "cookie", i.party != "first", i.domain, i.name))
    groups = sorted(_requests(captures, b).values(), key=lambda g: (g.first.host, g.count))
    violations, review = _findings(items, groups)
    return Inspection(items, [g.report() for g in groups], violations, review, refused)

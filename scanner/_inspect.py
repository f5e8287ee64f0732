"""Inspect: turn what the passes observed into attributed items, tracker requests, violations.

Attribution order for every item, stopping at the first that answers:
  1. the knowledge base knows the name (cookie name / storage key, exact or prefix);
  2. the writer is known: the script that wrote it (from the stack) or the response that set
     it, by its host and path;
  3. the item lives on a known vendor's host (a third-party cookie domain, an iframe origin);
  4. nothing: ``unclassified`` with no vendor, for a person to review.

Violations: any item or tracker request whose category is not ``necessary`` seen in the
``none`` pass (before any answer) or the ``reject`` pass. ``unclassified`` counts: an item
nobody can vouch for, stored before consent, is exactly what an auditor asks about; its
reason says it needs review rather than that it is a tracker.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ._models import Category, PassName, ReportItem, TrackerRequest, Violation
from ._records import CookieRecord, CookieWrite, PassCapture, RequestRecord, StorageRecord
from ._site import in_site
from .kb import KnowledgeBase, Match, Vendor

__all__ = ["inspect"]

_BEFORE = {"none": "before consent", "reject": "after the visitor rejected"}


@dataclass
class _Attribution:
    vendor: Vendor | None = None
    category: Category = "unclassified"
    by: str = "none"
    rule: str | None = None
    description: str | None = None
    duration_days: float | None = None


@dataclass
class _Builder:
    kb: KnowledgeBase
    sites: set[str]
    now: float = field(default_factory=time.time)
    _host_cache: dict[tuple[str, str], Vendor | None] = field(default_factory=dict)

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

    def attribute(
        self, match: Match | None, initiator: str | None, owner_host: str
    ) -> _Attribution:
        if match is not None:
            return _Attribution(
                vendor=match.vendor,
                category=match.category,
                by="name",
                rule=match.rule,
                description=match.description or None,
                duration_days=match.duration_days,
            )
        vendor = self.vendor_for_url(initiator)
        if vendor is not None:
            return _Attribution(vendor, vendor.category, "initiator")
        if not self.first_party(owner_host):
            vendor = self.vendor_for_host(owner_host)
            if vendor is not None:
                return _Attribution(vendor, vendor.category, "host")
        return _Attribution()


def _passes(seen: Iterable[PassName]) -> tuple[PassName, ...]:
    order: tuple[PassName, ...] = ("none", "accept", "reject")
    present = set(seen)
    return tuple(p for p in order if p in present)


def _cookie_items(captures: list[PassCapture], b: _Builder) -> list[ReportItem]:
    # Key cookies by (name, host without the leading dot, path); writes by (name, host),
    # since a script write leaves the path to the browser's default.
    jar: dict[tuple[str, str, str], tuple[CookieRecord, list[PassName]]] = {}
    writes: dict[tuple[str, str], list[CookieWrite]] = {}
    transient: dict[tuple[str, str, str], tuple[CookieWrite, list[PassName]]] = {}
    for capture in captures:
        for w in capture.writes:
            if not w.deleted and w.accepted:
                writes.setdefault((w.name, w.host), []).append(w)
        in_jar = {(c.name, c.domain.lstrip(".")) for c in capture.cookies}
        for c in capture.cookies:
            entry = jar.setdefault((c.name, c.domain, c.path), (c, []))
            entry[1].append(capture.name)
        # Written and gone before the page ended (test cookies, short-lived ids): still set.
        for w in capture.writes:
            if w.deleted or not w.accepted or (w.name, w.host) in in_jar:
                continue
            domain = f".{w.host}" if w.domain_cookie else w.host
            entry2 = transient.setdefault((w.name, domain, w.path or "/"), (w, []))
            if capture.name not in entry2[1]:
                entry2[1].append(capture.name)

    items: list[ReportItem] = []
    for (name, domain, path), (cookie, passes) in jar.items():
        host = domain.lstrip(".")
        history = writes.get((name, host), [])
        writer = history[0] if history else None
        expires = None if cookie.expires < 0 else round((cookie.expires - b.now) / 86400, 2)
        items.append(
            _item(b, name, domain, path, passes, writer, cookie.page_url, expires,
                  cookie.http_only, cookie.secure, cookie.same_site)
        )
    for (name, domain, path), (w, passes) in transient.items():
        if (name, domain, path) in jar:
            continue
        items.append(
            _item(b, name, domain, path, passes, w, w.page_url, w.expires_days,
                  w.http_only, w.secure, w.same_site)
        )
    return items


def _item(
    b: _Builder,
    name: str,
    domain: str,
    path: str | None,
    passes: list[PassName],
    writer: CookieWrite | None,
    seen_on: str,
    expires: float | None,
    http_only: bool | None,
    secure: bool | None,
    same_site: str | None,
) -> ReportItem:
    host = domain.lstrip(".")
    initiator = writer.initiator if writer else None
    a = b.attribute(b.kb.match_cookie(name, host), initiator, host)
    return ReportItem(
        kind="cookie",
        name=name,
        domain=domain,
        path=path,
        party="first" if b.first_party(host) else "third",
        vendor=a.vendor.key if a.vendor else None,
        vendor_name=a.vendor.name if a.vendor else None,
        category=a.category,
        passes=_passes(passes),
        first_seen_url=writer.page_url if writer else seen_on,
        set_by=writer.via if writer else "unknown",
        initiator=initiator,
        expires_days=expires,
        http_only=http_only,
        secure=secure,
        same_site=same_site if same_site in ("Strict", "Lax", "None") else None,  # type: ignore[arg-type]
        attributed_by=a.by,  # type: ignore[arg-type]
        rule=a.rule,
        description=a.description,
        kb_duration_days=a.duration_days,
    )


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
                attributed_by=a.by,  # type: ignore[arg-type]
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


def _violations(items: list[ReportItem], requests: list[_RequestGroup]) -> list[Violation]:
    out: list[Violation] = []
    for item in items:
        if item.category == "necessary":
            continue
        what = (
            "unclassified item (review needed)"
            if item.category == "unclassified"
            else f"{item.category} {item.kind}"
        )
        for p in item.passes:
            if p in _BEFORE:
                out.append(
                    Violation(
                        pass_=p, kind=item.kind, name=item.name, domain=item.domain,
                        vendor=item.vendor, category=item.category,
                        reason=f"{what} set {_BEFORE[p]}", url=item.first_seen_url,
                    )
                )
    for group in requests:
        req = group.report()
        if req.category == "necessary":
            continue
        for p, url in group.by_pass.items():
            if p not in _BEFORE:
                continue
            reason = f"request to a {req.category} tracker {_BEFORE[p]}"
            if "gcs=G100" in url:
                # Consent Mode's cookieless ping: no cookie, but data still goes to Google.
                reason += " (consent-mode ping without cookies, gcs=G100)"
            out.append(
                Violation(
                    pass_=p, kind="request", name=req.host, domain=req.host,
                    vendor=req.vendor, category=req.category, reason=reason, url=url,
                )
            )
    return out


def inspect(
    captures: list[PassCapture], kb: KnowledgeBase, sites: set[str]
) -> tuple[list[ReportItem], list[TrackerRequest], list[Violation]]:
    b = _Builder(kb, sites)
    items = _cookie_items(captures, b) + _storage_items(captures, b)
    items.sort(key=lambda i: (i.kind != "cookie", i.party != "first", i.domain, i.name))
    groups = sorted(_requests(captures, b).values(), key=lambda g: (g.first.host, g.count))
    return items, [g.report() for g in groups], _violations(items, groups)


"""What the browser kept: a pass's cookie writes reconciled with its jar snapshots.

A cookie is reported only if the jar held it at some point in the pass: it was in a snapshot
taken after a visit, or it is known to have been kept and gone again before the snapshot (a
script write that changed ``document.cookie``; a cookie deleted or expired within the visit).
Every other write is a refusal, with the browser's reason where the write itself shows it: a
public-suffix Domain such as ``.co.uk`` (analytics tags try the widest domain first on
purpose), ``SameSite=None`` without ``Secure``, a cross-site ``Set-Cookie`` without
``SameSite=None``. Refusals never become items, and so never violations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ._models import PassName, RefusedWrite
from ._records import NOT_KEPT, CookieWrite, PassCapture
from ._site import host_of, registrable_domain

__all__ = ["KeptCookie", "kept_cookies", "pass_order"]

# A cookie gone from the jar this fast may simply have expired before the snapshot.
_SHORT_LIVED_DAYS = 120 / 86400


@dataclass(frozen=True, slots=True)
class KeptCookie:
    name: str
    domain: str  # ".shop.test" for a domain cookie, the host for a host-only one
    path: str
    passes: tuple[PassName, ...]
    writer: CookieWrite | None  # the first kept write, when one was seen
    seen_on: str  # the page after which the jar held it (or the writer's page)
    expires_days: float | None
    http_only: bool | None
    secure: bool | None
    same_site: str | None


def pass_order(seen: Iterable[PassName]) -> tuple[PassName, ...]:
    present = set(seen)
    order: tuple[PassName, ...] = ("none", "accept", "reject")
    return tuple(p for p in order if p in present)


class _Refusals:
    """One entry per (name, attempted domain, reason, writer)."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str, str, str | None], tuple[CookieWrite, list[PassName]]] = {}

    def add(self, w: CookieWrite, reason: str, pass_: PassName) -> None:
        domain = f".{w.host}" if w.domain_cookie else w.host
        self._found.setdefault((w.name, domain, reason, w.initiator), (w, []))[1].append(pass_)

    def report(self) -> list[RefusedWrite]:
        return [
            RefusedWrite(name=name, domain=domain, set_by=w.via, initiator=w.initiator,
                         reason=reason, passes=pass_order(passes),
                         first_seen_url=w.page_url, count=len(passes))
            for (name, domain, reason, _), (w, passes) in self._found.items()
        ]


def _absent(w: CookieWrite) -> str:
    """Why a Set-Cookie that broke no rule of its own is not in the jar."""
    if w.initiator is not None and w.same_site != "None" and registrable_domain(
        host_of(w.initiator)
    ) != registrable_domain(host_of(w.page_url)):
        return f"SameSite={w.same_site or 'Lax (the default)'} in a cross-site response"
    return "not in the browser's jar after the visit"


def kept_cookies(
    captures: list[PassCapture], now: float
) -> tuple[list[KeptCookie], list[RefusedWrite]]:
    # Key cookies by (name, domain, path); writes by (name, host without the dot), since a
    # script write leaves the path to the browser's default.
    jar: dict[tuple[str, str, str], tuple[float, bool, bool, str | None, str, list[PassName]]] = {}
    writes: dict[tuple[str, str], list[CookieWrite]] = {}
    transient: dict[tuple[str, str, str], tuple[CookieWrite, list[PassName]]] = {}
    refusals = _Refusals()
    for capture in captures:
        in_jar = {(c.name, c.domain.lstrip(".")) for c in capture.cookies}
        deleted = {(w.name, w.host) for w in capture.writes if w.deleted and w.accepted}
        for c in capture.cookies:
            key3 = (c.name, c.domain, c.path)
            entry = jar.setdefault(
                key3, (c.expires, c.http_only, c.secure, c.same_site, c.page_url, [])
            )
            entry[5].append(capture.name)
        for w in capture.writes:
            key = (w.name, w.host)
            if w.deleted:
                continue
            # A rule the write broke is final; "not kept" yields to a jar that holds it.
            if w.refused is not None and (w.refused != NOT_KEPT or key not in in_jar):
                refusals.add(w, w.refused, capture.name)
                continue
            short = w.expires_days is not None and w.expires_days < _SHORT_LIVED_DAYS
            if w.via == "http" and key not in in_jar and key not in deleted and not short:
                refusals.add(w, _absent(w), capture.name)
                continue
            writes.setdefault(key, []).append(w)
            if key not in in_jar:
                domain = f".{w.host}" if w.domain_cookie else w.host
                seen = transient.setdefault((w.name, domain, w.path or "/"), (w, []))[1]
                if capture.name not in seen:
                    seen.append(capture.name)

    kept: list[KeptCookie] = []
    for (name, domain, path), (expires, http_only, secure, same_site, page, passes) in jar.items():
        history = writes.get((name, domain.lstrip(".")), [])
        kept.append(KeptCookie(
            name, domain, path, pass_order(passes), history[0] if history else None, page,
            None if expires < 0 else round((expires - now) / 86400, 2),
            http_only, secure, same_site,
        ))  # fmt: skip
    for (name, domain, path), (w, passes) in transient.items():
        if (name, domain, path) not in jar:
            kept.append(KeptCookie(name, domain, path, pass_order(passes), w, w.page_url,
                                   w.expires_days, w.http_only, w.secure, w.same_site))
    return kept, refusals.report()

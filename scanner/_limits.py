"""Bounds on what a scanned site controls (``ScanLimits``), and the report's account of them.

A page decides how many storage keys it writes, how long a cookie's name is, how many
requests it makes. Each pass counts what it records in a ``PassBudget``: past a limit it
records no more, and counts what it left out. The report says which limits were reached and
how much each left out (``ScanReport.limits``), so a reader knows the lists are not whole.

``limit_report`` bounds a finished report: the scanner applies it last, and the server again
before storing a report it did not make with its own limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._models import LimitHit, PassName, ScanLimits, ScanReport
from ._records import CookieRecord, StorageRecord

__all__ = ["PassBudget", "limit_report"]

# Dropped names are remembered by hash to count them once; past this many, by occurrence.
_MAX_REMEMBERED = 100_000


@dataclass
class PassBudget:
    """What one pass has recorded against its limits, and what it left out."""

    limits: ScanLimits
    requests: int = 0
    requests_left_out: int = 0
    chars_cut: int = 0
    _storage: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    _dropped: dict[str, set[int]] = field(default_factory=dict)
    _dropped_more: dict[str, int] = field(default_factory=dict)
    _listed: dict[str, int] = field(default_factory=dict)
    _kept_storage: int = 0  # distinct storage names kept, every origin together
    _items_dropped: set[int] = field(default_factory=set)
    _items_dropped_more: int = 0

    @classmethod
    def default(cls) -> PassBudget:
        """The default limits (a recorder made outside a pass: a failed visit's)."""
        return cls(ScanLimits())

    def cut(self, value: str) -> str:
        """``value`` cut to the limit's characters (counted when cut)."""
        limit = self.limits.value_chars
        if len(value) <= limit:
            return value
        self.chars_cut += len(value) - limit
        return value[:limit]

    def take_request(self) -> bool:
        """Record one more request? False past the limit (and it is counted)."""
        if self.requests >= self.limits.requests_per_pass:
            self.requests_left_out += 1
            return False
        self.requests += 1
        return True

    def take_storage(self, kind: str, name: str, origin: str) -> bool:
        """Keep a storage name of ``origin``? True for one kept before; False once the origin
        has its limit of distinct names (the name is counted as left out, once)."""
        kept = self._storage.setdefault(origin, set())
        key = (kind, name)
        if key in kept:
            return True
        if self._kept_storage >= self.limits.items_per_pass:
            self._item_left_out(hash((kind, name, origin)))
            return False
        if len(kept) < self.limits.storage_keys_per_origin:
            kept.add(key)
            self._kept_storage += 1
            return True
        dropped = self._dropped.setdefault(origin, set())
        if len(dropped) < _MAX_REMEMBERED:
            dropped.add(hash(key))
        else:
            self._dropped_more[origin] = self._dropped_more.get(origin, 0) + 1
        return False

    def _item_left_out(self, key: int) -> None:
        if len(self._items_dropped) < _MAX_REMEMBERED:
            self._items_dropped.add(key)
        else:
            self._items_dropped_more += 1

    def cap_items(
        self, cookies: tuple[CookieRecord, ...], storage: tuple[StorageRecord, ...]
    ) -> tuple[tuple[CookieRecord, ...], tuple[StorageRecord, ...]]:
        """A pass's cookies and storage cut to ``items_per_pass`` distinct items, cookies
        first (the browser itself bounds them), then storage names in the order seen."""
        limit = self.limits.items_per_pass
        kept_cookies = cookies[:limit]
        for cookie in cookies[limit:]:
            self._item_left_out(hash((cookie.name, cookie.domain, cookie.path)))
        room = limit - len(kept_cookies)
        keys: set[tuple[str, str, str]] = set()
        kept: list[StorageRecord] = []
        for record in storage:
            key = (record.kind, record.name, record.host)
            if key in keys:
                kept.append(record)
            elif len(keys) < room:
                keys.add(key)
                kept.append(record)
            else:
                self._item_left_out(hash(key))
        return kept_cookies, tuple(kept)

    def listed(self, origin: str, total: int) -> None:
        """A read of ``origin``'s storage found ``total`` names (the page hands over at most
        the limit of them): those beyond what was kept are left out too."""
        self._listed[origin] = max(self._listed.get(origin, 0), total)

    def _storage_left_out(self, origin: str) -> int:
        hooked = len(self._dropped.get(origin, ())) + self._dropped_more.get(origin, 0)
        read = self._listed.get(origin, 0) - len(self._storage.get(origin, ()))
        return max(hooked, read, 0)

    def hits(self, pass_: PassName) -> list[LimitHit]:
        origins = sorted(set(self._dropped) | set(self._dropped_more) | set(self._listed))
        found = [
            LimitHit(limit="storage_keys_per_origin", value=self.limits.storage_keys_per_origin,
                     left_out=self._storage_left_out(origin), pass_=pass_, where=origin)
            for origin in origins
        ]
        found = [hit for hit in found if hit.left_out]
        items = len(self._items_dropped) + self._items_dropped_more
        if items:
            found.append(LimitHit(limit="items_per_pass", value=self.limits.items_per_pass,
                                  left_out=items, pass_=pass_))
        if self.requests_left_out:
            found.append(LimitHit(limit="requests_per_pass", value=self.limits.requests_per_pass,
                                  left_out=self.requests_left_out, pass_=pass_))
        if self.chars_cut:
            found.append(LimitHit(limit="value_chars", value=self.limits.value_chars,
                                  left_out=self.chars_cut, pass_=pass_))
        return found


# The report's lists a size limit may cut, and how many entries of each the per-pass limits
# allow at most (per pass of the report).
_LISTS = ("items", "requests", "violations", "review", "refused_writes", "consent_blocking",
          "pages", "blocked")


def _size(report: ScanReport) -> int:
    return len(report.model_dump_json().encode())


def limit_report(report: ScanReport, limits: ScanLimits) -> ScanReport:
    """``report`` within ``limits``: at most ``items_per_pass`` items and
    ``requests_per_pass`` tracker hosts per pass, and at most ``report_bytes`` as JSON (the
    longest list halved until it fits). Each cut is added to ``report.limits``. CPU work for a
    big report: call it off the event loop."""
    passes = max(len(report.passes), 1)
    hits = list(report.limits)
    update: dict[str, Any] = {}
    for name, per_pass, limit_name in (
        ("items", limits.items_per_pass, "items_per_pass"),
        ("requests", limits.requests_per_pass, "requests_per_pass"),
    ):
        entries = getattr(report, name)
        if len(entries) > per_pass * passes:
            update[name] = entries[: per_pass * passes]
            hits.append(LimitHit(limit=limit_name, value=per_pass,  # type: ignore[arg-type]
                                 left_out=len(entries) - per_pass * passes, where=name))
    if update:
        report = report.model_copy(update=update)
    size = _size(report)
    while size > limits.report_bytes:
        name = max(_LISTS, key=lambda n: len(getattr(report, n)))
        entries = getattr(report, name)
        if not entries:
            break  # nothing left to cut: the fixed fields alone are this large
        keep = len(entries) // 2
        hits.append(LimitHit(limit="report_bytes", value=limits.report_bytes,
                             left_out=len(entries) - keep, where=name))
        report = report.model_copy(update={name: entries[:keep]})
        size = _size(report)
    if len(hits) == len(report.limits):
        return report
    return report.model_copy(update={"limits": tuple(_merged(hits))})


def _merged(hits: list[LimitHit]) -> list[LimitHit]:
    """One entry per limit, pass and place: cuts of the same list add up."""
    merged: dict[tuple[str, str | None, str | None], LimitHit] = {}
    for hit in hits:
        key = (hit.limit, hit.pass_, hit.where)
        if key in merged:
            before = merged[key]
            hit = before.model_copy(update={"left_out": before.left_out + hit.left_out})
        merged[key] = hit
    return list(merged.values())

"""The knowledge base: our own vendor tables first, then whatever the operator imported.

    kb = KnowledgeBase.load(extra=[Path("var/kb/open-cookie-database.json")])
    kb.match_cookie("_ga", ".example.com")      # Match(vendor=Google Analytics, ...)
    kb.match_host("region1.google-analytics.com", "/g/collect")

Precedence, in order: an earlier source beats a later one (builtin first, then the extra files
in the order given), an exact name beats a prefix, a longer prefix beats a shorter one, and a
rule bound to a domain beats an unbound one on that domain (and never applies elsewhere).
A name nothing identifies gives ``None``: the caller reports it as unclassified.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ._data import (
    BUILTIN,
    VendorFile,
    builtin_files,
    check_unique,
    read_vendor_file,
    read_vendor_path,
)
from ._errors import KnowledgeBaseError
from ._index import HostIndex, NameIndex, normalise_domain
from ._model import STORAGE_KINDS, Match, Rule, RuleKind, Vendor
from ._ocd import import_open_cookie_database, imported_to_rules, read_rules

__all__ = ["KnowledgeBase"]


@dataclass(frozen=True, slots=True)
class _Layer:
    source: str
    cookie: NameIndex
    storage: NameIndex
    indexed_db: NameIndex


class KnowledgeBase:
    """Immutable; build it once and share it between crawls and threads."""

    def __init__(self, vendors: Iterable[Vendor], rules: Iterable[Rule]) -> None:
        table: dict[str, Vendor] = {}
        for vendor in vendors:
            if vendor.key in table:
                raise KnowledgeBaseError(f"vendor key {vendor.key!r} defined twice")
            table[vendor.key] = vendor
        self.vendors: Mapping[str, Vendor] = MappingProxyType(table)
        self.rules: tuple[Rule, ...] = tuple(rules)
        by_source: dict[str, list[Rule]] = {}
        for rule in self.rules:
            by_source.setdefault(rule.result.source, []).append(rule)
        self._layers = tuple(_layer(source, found) for source, found in by_source.items())
        self._hosts = HostIndex(table.values())

    def __repr__(self) -> str:
        return f"<KnowledgeBase vendors={len(self.vendors)} rules={len(self.rules)}>"

    @classmethod
    def builtin(cls) -> KnowledgeBase:
        """The project's own tables (``scanner/kb/data/*.toml``), read once per process."""
        return _builtin_kb()

    @classmethod
    def load(cls, extra: Iterable[Path] = ()) -> KnowledgeBase:
        """Builtin tables, then each extra file: a rules file written by :func:`write_rules`
        (``.json``), an Open Cookie Database CSV imported on the fly (``.csv``), or vendor
        tables in our own TOML format (``.toml``)."""
        base = _builtin_file()
        vendors: dict[str, Vendor] = {v.key: v for v in base.vendors}
        rules: list[Rule] = list(base.rules)
        for item in extra:
            path = Path(item)
            suffix = path.suffix.lower()
            if suffix == ".toml":
                found = read_vendor_path(path)
                check_unique(found, path.name)
                new, added = list(found.vendors), list(found.rules)
            else:
                imported = (
                    import_open_cookie_database(path) if suffix == ".csv" else read_rules(path)
                )
                new, added = imported_to_rules(imported, vendors)
            for vendor in new:
                if vendor.key in vendors:
                    raise KnowledgeBaseError(f"{path.name}: vendor key {vendor.key!r} exists")
                vendors[vendor.key] = vendor
            rules.extend(added)
        return cls(vendors.values(), rules)

    def vendor(self, key: str) -> Vendor | None:
        return self.vendors.get(key)

    def match_cookie(self, name: str, domain: str | None = None) -> Match | None:
        """``domain`` is the cookie's domain attribute (a leading dot is fine)."""
        where = normalise_domain(domain) if domain else None
        for layer in self._layers:
            found = layer.cookie.lookup(name, where)
            if found is not None:
                return found
        return None

    def match_storage(self, kind: str, name: str, host: str | None = None) -> Match | None:
        """``kind``: localStorage, sessionStorage or indexedDB; ``host``: the frame's origin host.

        localStorage and sessionStorage share one set of rules: vendors move keys between them.
        """
        if kind not in STORAGE_KINDS:
            raise ValueError(f"unknown storage kind {kind!r}; expected {sorted(STORAGE_KINDS)}")
        where = normalise_domain(host) if host else None
        for layer in self._layers:
            index = layer.indexed_db if kind == "indexedDB" else layer.storage
            found = index.lookup(name, where)
            if found is not None:
                return found
        return None

    def match_host(self, host: str, path: str = "/") -> Vendor | None:
        """The vendor behind a script or beacon URL's host (and path, for shared hosts).

        ``region1.google-analytics.com`` matches the rule ``google-analytics.com``;
        ``evilgoogle-analytics.com`` does not. A query string on ``path`` is ignored.
        """
        host = host.strip().lower().rstrip(".")
        if host.count(":") == 1:  # "host:port"; a bare IPv6 address has several colons
            host = host.split(":", 1)[0]
        path = path.split("?", 1)[0].split("#", 1)[0] or "/"
        return self._hosts.lookup(host, path)


def _layer(source: str, rules: list[Rule]) -> _Layer:
    def of(*kinds: RuleKind) -> NameIndex:
        return NameIndex(rule for rule in rules if rule.kind in kinds)

    return _Layer(source, of("cookie", "any"), of("storage", "any"), of("indexedDB", "any"))


@functools.cache
def _builtin_file() -> VendorFile:
    vendors: list[Vendor] = []
    rules: list[Rule] = []
    for name, text in builtin_files():
        found = read_vendor_file(name, text, source=BUILTIN)
        vendors.extend(found.vendors)
        rules.extend(found.rules)
    merged = VendorFile(tuple(vendors), tuple(rules))
    check_unique(merged, "builtin data")
    return merged


@functools.cache
def _builtin_kb() -> KnowledgeBase:
    found = _builtin_file()
    return KnowledgeBase(found.vendors, found.rules)

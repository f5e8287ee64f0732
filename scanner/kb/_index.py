"""Lookup structures: names (exact and prefix) and script/beacon hosts.

Exact names sit in a dict. Prefixes sit in a dict keyed by the prefix, and a lookup tries the
name cut to each prefix length present, longest first: a handful of dict probes whatever the
number of rules, so the crawler can call it for every cookie of every page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from ._model import Match, Rule, Vendor

__all__ = ["HostIndex", "NameIndex", "domain_within", "normalise_domain", "split_host_rule"]


def normalise_domain(domain: str) -> str:
    """``".Example.COM."`` → ``"example.com"`` (a cookie's domain attribute may lead with a dot)."""
    return domain.strip().strip(".").lower()


def domain_within(domain: str, parent: str) -> bool:
    """Whether ``domain`` is ``parent`` or one of its subdomains, label-wise."""
    return domain == parent or domain.endswith("." + parent)


class NameIndex:
    """Rules of one source for one kind of name."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        exact: dict[str, list[Rule]] = defaultdict(list)
        prefix: dict[str, list[Rule]] = defaultdict(list)
        for rule in rules:
            table = exact if rule.result.match == "exact" else prefix
            table[rule.pattern].append(rule)
        # A rule bound to domains is tried before an unbound one for the same name.
        self._exact = {name: _bound_first(found) for name, found in exact.items()}
        self._prefix = {name: _bound_first(found) for name, found in prefix.items()}
        self._lengths = sorted({len(p) for p in self._prefix}, reverse=True)

    def __len__(self) -> int:
        return sum(map(len, self._exact.values())) + sum(map(len, self._prefix.values()))

    def lookup(self, name: str, domain: str | None) -> Match | None:
        """Exact beats prefix, a longer prefix beats a shorter one, bound beats unbound."""
        candidates = self._exact.get(name)
        if candidates is not None:
            found = _first_applicable(candidates, domain)
            if found is not None:
                return found
        size = len(name)
        for length in self._lengths:
            if length > size:
                continue
            candidates = self._prefix.get(name[:length])
            if candidates is not None:
                found = _first_applicable(candidates, domain)
                if found is not None:
                    return found
        return None


def _bound_first(rules: list[Rule]) -> tuple[Rule, ...]:
    return tuple(sorted(rules, key=lambda rule: not rule.domains))


def _first_applicable(rules: tuple[Rule, ...], domain: str | None) -> Match | None:
    for rule in rules:
        if not rule.domains:
            return rule.result
        # A bound rule never applies when the caller cannot say where the name lives.
        if domain is not None and any(domain_within(domain, d) for d in rule.domains):
            return rule.result
    return None


def split_host_rule(rule: str) -> tuple[str, str]:
    """``"google.com/pagead"`` → ``("google.com", "/pagead")``; a bare host has path ``""``."""
    host, slash, path = rule.partition("/")
    return host, (slash + path) if slash else ""


class HostIndex:
    """Script and beacon hosts: suffix match on whole labels, then the longest path prefix."""

    def __init__(self, vendors: Iterable[Vendor]) -> None:
        table: dict[str, list[tuple[str, Vendor]]] = defaultdict(list)
        for vendor in vendors:
            for rule in vendor.hosts:
                host, path = split_host_rule(rule)
                table[host].append((path, vendor))
        self._table = {
            host: tuple(sorted(entries, key=lambda entry: len(entry[0]), reverse=True))
            for host, entries in table.items()
        }

    def lookup(self, host: str, path: str) -> Vendor | None:
        labels = host.split(".")
        for start in range(len(labels)):
            entries = self._table.get(".".join(labels[start:]))
            if entries is None:
                continue
            for prefix, vendor in entries:
                if _path_within(path, prefix):
                    return vendor
        return None


def _path_within(path: str, prefix: str) -> bool:
    if not prefix or path == prefix:
        return True
    if not path.startswith(prefix):
        return False
    return prefix.endswith("/") or path[len(prefix)] == "/"

"""Read vendor files: the project's own TOML tables (``data/*.toml``) or an operator's own.

The format is described in ``data/README.md``. Reading is strict: an unknown key, a wrong
type, a category outside the five, or an unreadable duration raises
:class:`KnowledgeBaseError` naming the file and the vendor, so a typo cannot quietly drop a rule.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, cast

from ._errors import KnowledgeBaseError
from ._index import normalise_domain
from ._lifetime import parse_lifetime
from ._model import (
    CATEGORIES,
    Category,
    Match,
    MatchKind,
    Party,
    Rule,
    RuleKind,
    Translations,
    Vendor,
)

__all__ = [
    "BUILTIN",
    "VendorFile",
    "builtin_files",
    "read_vendor_file",
    "read_vendor_path",
    "check_unique",
]

BUILTIN = "builtin"

_VENDOR_KEYS = {
    "key", "name", "country", "privacy_policy_url", "transfers_outside_eea", "transfer_basis",
    "category", "hosts", "aliases", "description", "cookie", "storage",
}  # fmt: skip
_COOKIE_KEYS = {
    "name", "prefix", "category", "category_note", "duration", "party", "domains", "description",
}  # fmt: skip
_STORAGE_KEYS = _COOKIE_KEYS | {"kind"}
_STORAGE_KINDS: dict[str, RuleKind] = {
    "localStorage": "storage",
    "sessionStorage": "storage",
    "indexedDB": "indexedDB",
}
_TRANSLATION = re.compile(r"^description_([a-z]{2})$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_HOST = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+(/[^\s?#]*)?$")
# Words accepted for a lifetime that has no fixed number of days.
_OPEN_LIFETIMES = {"unknown", "varies", "configurable", "persistent"}


@dataclass(frozen=True, slots=True)
class VendorFile:
    vendors: tuple[Vendor, ...]
    rules: tuple[Rule, ...]


def builtin_files() -> list[tuple[str, str]]:
    """(name, text) of every ``data/*.toml`` shipped with the package, in name order."""
    folder = resources.files("scanner.kb").joinpath("data")
    found = [(item.name, item.read_text("utf-8")) for item in folder.iterdir()]
    return sorted((name, text) for name, text in found if name.endswith(".toml"))


def read_vendor_file(name: str, text: str, source: str = BUILTIN) -> VendorFile:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KnowledgeBaseError(f"{name}: {exc}") from exc
    unknown = set(document) - {"vendor"}
    if unknown:
        raise KnowledgeBaseError(f"{name}: unknown top-level keys {sorted(unknown)}")
    vendors: list[Vendor] = []
    rules: list[Rule] = []
    for index, table in enumerate(_tables(document.get("vendor", []), f"{name}: vendor")):
        where = f"{name}: vendor {table.get('key', index)!r}"
        vendor = _vendor(table, where)
        vendors.append(vendor)
        for entry in _tables(table.get("cookie", []), f"{where} cookie"):
            rules.append(_rule(entry, vendor, "cookie", source, where))
        for entry in _tables(table.get("storage", []), f"{where} storage"):
            rules.append(_rule(entry, vendor, "storage", source, where))
    return VendorFile(tuple(vendors), tuple(rules))


def read_vendor_path(path: Path) -> VendorFile:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeBaseError(f"{path.name}: {exc}") from exc
    return read_vendor_file(path.name, text, source=path.name)


def _tables(value: object, where: str) -> Iterator[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise KnowledgeBaseError(f"{where}: expected an array of tables")
    yield from cast(list[dict[str, Any]], value)


def _vendor(table: Mapping[str, Any], where: str) -> Vendor:
    _check_keys(table, _VENDOR_KEYS, where)
    key = _text(table, "key", where)
    if not _KEY.match(key):
        raise KnowledgeBaseError(f"{where}: key must be lowercase letters, digits and '-'")
    hosts = _texts(table, "hosts", where)
    for host in hosts:
        if not _HOST.match(host):
            raise KnowledgeBaseError(f"{where}: bad host rule {host!r}")
    country = _optional_text(table, "country", where)
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        raise KnowledgeBaseError(f"{where}: country must be an ISO 3166 alpha-2 code")
    transfers = table.get("transfers_outside_eea")
    if transfers is not None and not isinstance(transfers, bool):
        raise KnowledgeBaseError(f"{where}: transfers_outside_eea must be true or false")
    return Vendor(
        key=key,
        name=_text(table, "name", where),
        country=country,
        privacy_policy_url=_optional_text(table, "privacy_policy_url", where),
        transfers_outside_eea=transfers,
        transfer_basis=_optional_text(table, "transfer_basis", where),
        category=_category(table, where),
        hosts=tuple(hosts),
        description=_text(table, "description", where),
        aliases=tuple(_texts(table, "aliases", where)),
        translations=_translations(table, where),
    )


def _rule(entry: Mapping[str, Any], vendor: Vendor, group: str, source: str, where: str) -> Rule:
    allowed = _STORAGE_KEYS if group == "storage" else _COOKIE_KEYS
    label = entry.get("name", entry.get("prefix", "?"))
    where = f"{where} {group} {label!r}"
    _check_keys(entry, allowed, where)
    if ("name" in entry) == ("prefix" in entry):
        raise KnowledgeBaseError(f"{where}: give exactly one of name or prefix")
    match: MatchKind = "exact" if "name" in entry else "prefix"
    pattern = _text(entry, "name" if match == "exact" else "prefix", where)
    kind: RuleKind = "cookie"
    default_duration = None
    if group == "storage":
        storage_kind = _text(entry, "kind", where)
        if storage_kind not in _STORAGE_KINDS:
            raise KnowledgeBaseError(f"{where}: kind must be one of {sorted(_STORAGE_KINDS)}")
        kind = _STORAGE_KINDS[storage_kind]
        default_duration = "session" if storage_kind == "sessionStorage" else "persistent"
    duration = _optional_text(entry, "duration", where) or default_duration
    if duration is None:
        raise KnowledgeBaseError(f"{where}: duration is required for a cookie")
    lifetime = parse_lifetime(duration)
    if not lifetime.known and duration not in _OPEN_LIFETIMES:
        raise KnowledgeBaseError(f"{where}: cannot read duration {duration!r}")
    party = _optional_text(entry, "party", where)
    if party not in (None, "first", "third"):
        raise KnowledgeBaseError(f"{where}: party must be 'first' or 'third'")
    if group == "cookie" and party is None:
        raise KnowledgeBaseError(f"{where}: party is required for a cookie")
    domains = tuple(normalise_domain(d) for d in _texts(entry, "domains", where))
    result = Match(
        vendor=vendor,
        category=_category(entry, where, default=vendor.category),
        description=_text(entry, "description", where),
        duration_days=lifetime.days,
        rule=pattern,
        match=match,
        source=source,
        party=cast(Party | None, party),
        duration_text=duration,
        translations=_translations(entry, where),
        category_note=_optional_text(entry, "category_note", where) or "",
    )
    return Rule(kind=kind, domains=domains, result=result)


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = {k for k in table if k not in allowed and not _TRANSLATION.match(k)}
    if unknown:
        raise KnowledgeBaseError(f"{where}: unknown keys {sorted(unknown)}")


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = _optional_text(table, key, where)
    if value is None:
        raise KnowledgeBaseError(f"{where}: {key} is required")
    return value


def _optional_text(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeBaseError(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _texts(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise KnowledgeBaseError(f"{where}: {key} must be a list of non-empty strings")
    return cast(list[str], value)


def _category(table: Mapping[str, Any], where: str, default: str | None = None) -> Category:
    value = table.get("category", default)
    if value not in CATEGORIES or value == "unclassified":
        raise KnowledgeBaseError(
            f"{where}: category must be necessary, preferences, statistics or marketing"
        )
    return cast(Category, value)


def _translations(table: Mapping[str, Any], where: str) -> Translations:
    found = []
    for key in sorted(table):
        language = _TRANSLATION.match(key)
        if language:
            found.append((language.group(1), _text(table, key, where)))
    return tuple(found)


def check_unique(found: VendorFile, where: str) -> None:
    """Refuse two rules for the same name and place, or one host rule claimed twice."""
    rules: dict[tuple[str, str, str, tuple[str, ...]], str] = {}
    for rule in found.rules:
        key = (rule.kind, rule.result.match, rule.pattern, rule.domains)
        owner = rule.result.vendor.key if rule.result.vendor else "?"
        if key in rules:
            raise KnowledgeBaseError(
                f"{where}: {rule.kind} {rule.result.match} {rule.pattern!r} is defined by "
                f"both {rules[key]!r} and {owner!r}"
            )
        rules[key] = owner
    hosts: dict[str, str] = {}
    for vendor in found.vendors:
        for host in vendor.hosts:
            if host in hosts:
                raise KnowledgeBaseError(
                    f"{where}: host {host!r} is claimed by both {hosts[host]!r} and {vendor.key!r}"
                )
            hosts[host] = vendor.key

"""Import the Open Cookie Database CSV format, store the result, read it back.

The Open Cookie Database (github.com/jkwakman/Open-Cookie-Database, Apache-2.0) is loaded
only by an operator, never shipped as our data. Its quirks, and what the importer does:

* ``Category``: "Functional" means technically necessary, not preferences, so
  Functional/Necessary/Security → necessary, Personalization → preferences,
  Analytics → statistics, Marketing → marketing. Any other value: the row is skipped.
* ``Wildcard match`` = 1, or a name ending in ``*``: the name is a prefix.
* ``Retention period`` is free text, read by :func:`parse_lifetime`; the text is kept.
* ``Domain`` is free text ("youtube.com (3rd party)", ".linkedin.com", "") and often names the
  platform rather than where the cookie lives (HubSpot's first-party ``__hstc`` says
  "hubspot.com"). A rule is bound to that domain only when binding is needed to avoid
  misattributing a site's own cookie: the domain is marked third party or written as a cookie
  domain (leading dot), the name occurs more than once in the table, or the name has at most
  three characters (``c``, ``ts``, ``uid``). Other rows match on any domain.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ._errors import ImportFormatError, KnowledgeBaseError
from ._index import normalise_domain
from ._lifetime import parse_lifetime
from ._model import CATEGORIES, Category, Match, MatchKind, Party, Rule, Vendor

__all__ = [
    "OCD_COLUMNS",
    "ImportedRule",
    "ImportedRules",
    "SkippedRow",
    "import_open_cookie_database",
    "imported_to_rules",
    "read_rules",
    "write_rules",
]

OCD_COLUMNS = (
    "ID", "Platform", "Category", "Cookie / Data Key name", "Domain", "Description",
    "Retention period", "Data Controller", "User Privacy & GDPR Rights Portals", "Wildcard match",
)  # fmt: skip
_CATEGORY_MAP: dict[str, Category] = {
    "functional": "necessary",
    "necessary": "necessary",
    "security": "necessary",
    "personalization": "preferences",
    "analytics": "statistics",
    "marketing": "marketing",
}
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\ufeff"))
_DOMAIN = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")
_FORMAT = "cmp-kb-rules"
_VERSION = 1


@dataclass(frozen=True, slots=True)
class ImportedRule:
    name: str
    match: MatchKind
    category: Category
    duration_days: int | None
    retention: str
    description: str
    platform: str
    controller: str
    privacy_url: str | None
    domains: tuple[str, ...]
    party: Party | None
    id: str


@dataclass(frozen=True, slots=True)
class SkippedRow:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class ImportedRules:
    source: str
    rules: tuple[ImportedRule, ...]
    skipped: tuple[SkippedRow, ...] = ()


def import_open_cookie_database(csv_path: Path) -> ImportedRules:
    """Parse an Open Cookie Database CSV into rules; ``source`` is the file's name."""
    path = Path(csv_path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in OCD_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ImportFormatError(f"{path.name}: missing columns {missing}")
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise KnowledgeBaseError(f"{path.name}: {exc}") from exc
    named = [
        (line, row, *_name(row["Cookie / Data Key name"], row["Wildcard match"]))
        for line, row in rows
    ]
    occurrences = Counter((name, match) for _, _, name, match in named)
    rules: list[ImportedRule] = []
    skipped: list[SkippedRow] = []
    for line, row, name, match in named:
        category = _CATEGORY_MAP.get(_clean(row["Category"]).lower())
        if not name:
            skipped.append(SkippedRow(line, "no cookie name"))
            continue
        if category is None:
            skipped.append(SkippedRow(line, f"unknown category {row['Category']!r}"))
            continue
        domains, third_party, cookie_domain = _domains(row["Domain"])
        bind = third_party or cookie_domain or occurrences[name, match] > 1 or len(name) <= 3
        retention = _clean(row["Retention period"])
        platform = _clean(row["Platform"])
        portal = _clean(row["User Privacy & GDPR Rights Portals"])
        rules.append(ImportedRule(
            name=name,
            match=match,
            category=category,
            duration_days=parse_lifetime(retention).days,
            retention=retention,
            description=_clean(row["Description"]) or f"{platform or 'Unknown'}: no description.",
            platform=platform,
            controller=_clean(row["Data Controller"]),
            privacy_url=portal if portal.startswith(("https://", "http://")) else None,
            domains=domains if bind else (),
            party="third" if third_party else None,
            id=_clean(row["ID"]),
        ))  # fmt: skip
    return ImportedRules(path.name, tuple(rules), tuple(skipped))


def _clean(text: str | None) -> str:
    return (text or "").translate(_INVISIBLE).strip()


def _name(raw: str, wildcard: str) -> tuple[str, MatchKind]:
    name = _clean(raw)
    if name.endswith("*"):
        return name.rstrip("*"), "prefix"
    return name, "prefix" if _clean(wildcard) == "1" else "exact"


def _domains(raw: str) -> tuple[tuple[str, ...], bool, bool]:
    """(domains, marked third party, written as a cookie domain with a leading dot)."""
    text = _clean(raw)
    third_party = "3rd party" in text.lower()
    found: list[str] = []
    for part in re.split(r"\s+or\s+|,", text):
        host = re.sub(r"\(.*?\)", "", part).strip().strip(".").lower()
        host = host.rsplit("].", 1)[-1]  # "ads-[account].adhese.com" → "adhese.com"
        if not _DOMAIN.fullmatch(host):
            # An empty alternative (" or 207.net") is the site's own domain: do not bind.
            return (), third_party, False
        found.append(host)
    return tuple(found), third_party, text.startswith(".")


def write_rules(rules: ImportedRules, path: Path) -> None:
    """Store imported rules as JSON, the format ``KnowledgeBase.load(extra=[path])`` reads."""
    path = Path(path)
    document = {
        "format": _FORMAT,
        "version": _VERSION,
        "source": rules.source,
        "rules": [_rule_json(rule) for rule in rules.rules],
    }
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", "utf-8")
    os.replace(temporary, path)


def _rule_json(rule: ImportedRule) -> dict[str, object]:
    return {
        "name": rule.name,
        "match": rule.match,
        "category": rule.category,
        "duration_days": rule.duration_days,
        "retention": rule.retention,
        "description": rule.description,
        "platform": rule.platform,
        "controller": rule.controller,
        "privacy_url": rule.privacy_url,
        "domains": list(rule.domains),
        "party": rule.party,
        "id": rule.id,
    }


def read_rules(path: Path) -> ImportedRules:
    path = Path(path)
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise KnowledgeBaseError(f"{path.name}: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise KnowledgeBaseError(f"{path.name}: not a rules file (format {_FORMAT!r})")
    if document.get("version") != _VERSION:
        raise KnowledgeBaseError(f"{path.name}: unsupported version {document.get('version')}")
    source = document.get("source")
    entries = document.get("rules")
    if not isinstance(source, str) or not isinstance(entries, list):
        raise KnowledgeBaseError(f"{path.name}: needs 'source' and a 'rules' list")
    rules = [_rule_from_json(entry, f"{path.name} rule {i}") for i, entry in enumerate(entries)]
    return ImportedRules(source, tuple(rules))


def _rule_from_json(entry: object, where: str) -> ImportedRule:
    if not isinstance(entry, dict):
        raise KnowledgeBaseError(f"{where}: expected an object")
    try:
        rule = ImportedRule(
            name=_typed(entry, "name", str),
            match=cast(MatchKind, _typed(entry, "match", str)),
            category=cast(Category, _typed(entry, "category", str)),
            duration_days=_typed(entry, "duration_days", int, optional=True),
            retention=_typed(entry, "retention", str),
            description=_typed(entry, "description", str),
            platform=_typed(entry, "platform", str),
            controller=_typed(entry, "controller", str),
            privacy_url=_typed(entry, "privacy_url", str, optional=True),
            domains=tuple(_typed(entry, "domains", list)),
            party=cast(Party | None, _typed(entry, "party", str, optional=True)),
            id=_typed(entry, "id", str),
        )
    except (KeyError, TypeError) as exc:
        raise KnowledgeBaseError(f"{where}: {exc}") from exc
    if rule.match not in ("exact", "prefix") or not rule.name:
        raise KnowledgeBaseError(f"{where}: bad name or match")
    if rule.category not in CATEGORIES or rule.party not in (None, "first", "third"):
        raise KnowledgeBaseError(f"{where}: bad category or party")
    if not all(isinstance(d, str) for d in rule.domains):
        raise KnowledgeBaseError(f"{where}: domains must be strings")
    return rule


def _typed(entry: dict[str, Any], key: str, kind: type, optional: bool = False) -> Any:
    value = entry[key]
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{key} must be {kind.__name__}")
    return value


def imported_to_rules(
    imported: ImportedRules, vendors: Mapping[str, Vendor]
) -> tuple[list[Vendor], list[Rule]]:
    """Turn imported rules into knowledge-base rules.

    A platform whose name is a known vendor's key, name or alias (ignoring case and
    punctuation) is attributed to that vendor; any other platform becomes a vendor keyed
    ``imported-<name>`` whose transfers are unknown. Returns the new vendors and the rules.
    """
    known: dict[str, Vendor] = {}
    for existing in vendors.values():
        for label in (existing.key, existing.name, *existing.aliases):
            known.setdefault(_label(label), existing)
    by_platform: dict[str, list[ImportedRule]] = {}
    for rule in imported.rules:
        by_platform.setdefault(rule.platform, []).append(rule)
    new: list[Vendor] = []
    rules: list[Rule] = []
    for platform, group in by_platform.items():
        vendor = known.get(_label(platform)) if platform else None
        if vendor is None and platform:
            made = vendors.get(f"imported-{_slug(platform)}") or _synthesise(
                platform, group, imported.source
            )
            if made.key not in vendors:
                new.append(made)
            known[_label(platform)] = vendor = made
        for rule in group:
            domains = tuple(normalise_domain(d) for d in rule.domains)
            rules.append(Rule(kind="any", domains=domains, result=Match(
                vendor=vendor,
                category=rule.category,
                description=rule.description,
                duration_days=rule.duration_days,
                rule=rule.name,
                match=rule.match,
                source=imported.source,
                party=rule.party,
                duration_text=rule.retention,
            )))  # fmt: skip
    return new, rules


def _label(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "unnamed"


def _synthesise(platform: str, group: list[ImportedRule], source: str) -> Vendor:
    category = Counter(rule.category for rule in group).most_common(1)[0][0]
    privacy = next((rule.privacy_url for rule in group if rule.privacy_url), None)
    return Vendor(
        key=f"imported-{_slug(platform)}",
        name=platform,
        country=None,
        privacy_policy_url=privacy,
        transfers_outside_eea=None,
        transfer_basis=None,
        category=category,
        hosts=(),
        description=f"{platform}, known only from the imported table {source}.",
    )

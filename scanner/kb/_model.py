"""The records the knowledge base hands out: vendors, rules and the result of a lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from ._lifetime import parse_lifetime

__all__ = [
    "CATEGORIES",
    "RULE_KINDS",
    "STORAGE_KINDS",
    "Category",
    "Match",
    "MatchKind",
    "Party",
    "Rule",
    "RuleKind",
    "StorageKind",
    "Translations",
    "Vendor",
]

Category = Literal["necessary", "preferences", "statistics", "marketing", "unclassified"]
MatchKind = Literal["exact", "prefix"]
Party = Literal["first", "third"]
# What a rule names: a cookie, a Web Storage key (localStorage and sessionStorage share one
# namespace: vendors move keys between the two), an IndexedDB database, or, for imported
# tables that do not say (the Open Cookie Database's "Cookie / Data Key name"), any of them.
RuleKind = Literal["cookie", "storage", "indexedDB", "any"]
StorageKind = Literal["localStorage", "sessionStorage", "indexedDB"]

CATEGORIES: frozenset[str] = frozenset(get_args(Category))
RULE_KINDS: frozenset[str] = frozenset(get_args(RuleKind))
STORAGE_KINDS: frozenset[str] = frozenset(get_args(StorageKind))

# (language, text) pairs, e.g. (("sv", "..."), ("da", "...")); English is the main text.
Translations = tuple[tuple[str, str], ...]


def _pick(text: str, translations: Translations, language: str) -> str:
    for lang, translated in translations:
        if lang == language:
            return translated
    return text


@dataclass(frozen=True, slots=True)
class Vendor:
    """A company or a piece of software that sets cookies or receives requests.

    ``country`` is an ISO 3166 alpha-2 code (``None`` for software the site runs itself).
    ``transfers_outside_eea`` is ``None`` when not known (vendors synthesised from an
    imported table); ``transfer_basis`` is ``None`` when there is no transfer or the basis
    has not been recorded.
    """

    key: str
    name: str
    country: str | None
    privacy_policy_url: str | None
    transfers_outside_eea: bool | None
    transfer_basis: str | None
    category: Category
    hosts: tuple[str, ...]
    description: str
    aliases: tuple[str, ...] = ()
    translations: Translations = ()

    def describe(self, language: str = "en") -> str:
        return _pick(self.description, self.translations, language)


@dataclass(frozen=True, slots=True)
class Match:
    """What a cookie or storage name was identified as.

    ``duration_days`` is the expected lifetime in whole days, rounded up (a 30-minute
    cookie is 1); ``None`` for a session cookie or when the source gives no fixed lifetime,
    and ``duration_text`` then says which ("session", "Unknown", ...).
    ``source`` is ``"builtin"`` or the name of the imported file the rule came from.
    """

    vendor: Vendor | None
    category: Category
    description: str
    duration_days: int | None
    rule: str
    match: MatchKind
    source: str
    party: Party | None = None
    duration_text: str = ""
    translations: Translations = ()
    # Why our category differs from the Open Cookie Database's for this name (ours wins only
    # with a reason); empty when they agree or the OCD does not list it.
    category_note: str = ""

    def describe(self, language: str = "en") -> str:
        return _pick(self.description, self.translations, language)

    @property
    def session(self) -> bool:
        """A session cookie (``duration_days`` is also ``None`` when the lifetime is unknown)."""
        return self.duration_days is None and parse_lifetime(self.duration_text).session


@dataclass(frozen=True, slots=True)
class Rule:
    """One entry of the knowledge base: what it names, where it applies, what it yields.

    ``domains`` binds the rule to those domains and their subdomains (the cookie's domain,
    or the host of the frame that owns the storage); an empty tuple means anywhere.
    """

    kind: RuleKind
    domains: tuple[str, ...]
    result: Match

    @property
    def pattern(self) -> str:
        return self.result.rule

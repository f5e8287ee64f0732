"""Which words a visitor reads in each language, and what staff still have to translate.

An inventory item's description is its own (``InventoryItem.description``, per language),
completed from the knowledge base where the item's own texts are the knowledge base's (staff
have not rewritten them): a cookie the knowledge base describes in Swedish is described in
Swedish also on a site scanned before the translation was written.

The rule of a row of the declaration (and of the banner's second layer): it is wholly in
the visitor's language. Its labels, duration, party and transfer always are (our built-in
texts exist in every language we ship, and the site's are resolved per language at publish
time); its description is shown when it exists in that language and is left out when it does
not, never replaced by another language's words. A visitor reading Danish reads Danish only
(an English sentence among Danish ones is no information to many, and misleads a screen
reader that announces the row as Danish); what the row is for is still said by its purpose's
heading and description above it, in that language. Staff are told of every gap
(``completeness`` on the banner page and the dashboard, the lint's ``untranslated_*``
warnings), so the gap is theirs to close, not ours to paper over. Whole-row fallback to
another language (row marked with ``lang``) was weighed and costs the embed about 100 bytes
gzipped that its size budget does not have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from scanner.kb import KnowledgeBase, Match

from ..defaults import DEFAULT_TEXTS
from ..models import InventoryItem, Purpose, Site

__all__ = [
    "DeclaredText",
    "LanguageStatus",
    "MissingPurpose",
    "completed",
    "completeness",
    "declared_texts",
    "item_description",
    "kb_match",
    "kb_texts",
    "language_name",
    "untranslated_texts",
]

# The banner's texts (``drafts.TEXT_KEYS``; drafts imports publishing, which imports this).
TEXT_KEYS: tuple[str, ...] = tuple(DEFAULT_TEXTS["en"])
_NAMES = {"en": "English", "sv": "Swedish", "da": "Danish", "no": "Norwegian", "nb": "Norwegian",
          "fi": "Finnish", "de": "German", "fr": "French", "nl": "Dutch", "es": "Spanish"}


def language_name(tag: str) -> str:
    """``da`` → ``Danish`` (the admin's language); a tag we have no name for as itself."""
    return _NAMES.get(tag.split("-")[0].lower(), tag)


def kb_match(
    kb: KnowledgeBase, kind: str, name: str, match: str = "exact", domain: str | None = None
) -> Match | None:
    """What the knowledge base knows of an inventory row (a prefix row as a name under it)."""
    probe = name if match == "exact" else name + "x"
    try:
        if kind == "cookie":
            return kb.match_cookie(probe, domain)
        return kb.match_storage(kind, probe, (domain or "").lstrip(".") or None)
    except ValueError:  # a kind the knowledge base has no rules for
        return None


def kb_texts(found: Match | None) -> dict[str, str]:
    """The knowledge base's description in every language it has (English as ``en``)."""
    if found is None or not found.description:
        return {}
    return {"en": found.description, **{lang: text for lang, text in found.translations if text}}


def completed(own: Mapping[str, str], found: Match | None) -> dict[str, str]:
    """``own`` with the knowledge base's languages added, when it has texts and every one is
    the knowledge base's in that language (an item staff described themselves keeps only their
    words: the knowledge base's would describe something else; one they left without a
    description stays so, and is counted as missing)."""
    mine = {lang: text for lang, text in own.items() if text}
    theirs = kb_texts(found)
    if not mine or not theirs or any(theirs.get(lang) != text for lang, text in mine.items()):
        return mine
    return {**theirs, **mine}


def item_description(item: InventoryItem, kb: KnowledgeBase | None = None) -> dict[str, str]:
    """An item's description per language, completed from the knowledge base."""
    found = kb_match(kb or KnowledgeBase.builtin(), item.kind, item.name, item.match, item.domain)
    return completed(item.description or {}, found)


@dataclass(frozen=True)
class DeclaredText:
    """What the declaration's row of an item says in one of the site's languages, and whose
    words they are: ``staff`` (the item's own description), ``knowledge base`` (its text,
    or the item's own where staff kept the knowledge base's words) or ``missing`` (the row
    shows no description in that language: ``text`` is empty)."""

    language: str
    text: str
    source: str

    @property
    def name(self) -> str:
        return language_name(self.language)


def declared_texts(
    item: InventoryItem, languages: Iterable[str], kb: KnowledgeBase | None = None
) -> list[DeclaredText]:
    """Per language of the site, what the published declaration will say of ``item``
    (``item_description``, as ``publishing.build_config`` takes it) and where it comes from."""
    found = kb_match(kb or KnowledgeBase.builtin(), item.kind, item.name, item.match, item.domain)
    own = {lang: text for lang, text in (item.description or {}).items() if text}
    theirs = kb_texts(found)
    shown = completed(own, found)
    out = []
    for lang in languages:
        text = shown.get(lang, "")
        source = ("missing" if not text else
                  "staff" if own.get(lang) and own[lang] != theirs.get(lang) else
                  "knowledge base")
        out.append(DeclaredText(lang, text, source))
    return out


def untranslated_texts(site: Site, language: str) -> list[str]:
    """The banner texts a visitor reading ``language`` would not get in the site's words:
    the site wrote its own in another language but not in this one (our built-in text would
    be shown, saying something else), or there is no text in this language but a copy of
    our English (a language we ship no texts for). A site starts with copies of our texts
    in its languages: a text equal to ours is ours, not the site's."""
    own = site.texts.get(language, {})
    builtin = DEFAULT_TEXTS.get(language)

    def mine(lang: str, key: str) -> bool:
        text = (site.texts.get(lang, {}).get(key) or "").strip()
        ours = DEFAULT_TEXTS.get(lang, DEFAULT_TEXTS["en"]).get(key)
        return bool(text) and text != ours

    def customised(key: str) -> bool:
        return any(mine(lang, key) for lang in site.languages if lang != language)

    if builtin is None:
        return [key for key in TEXT_KEYS if not mine(language, key)]
    return [
        key for key in TEXT_KEYS
        if not mine(language, key) and (customised(key) or not (
            (own.get(key) or "").strip() or builtin.get(key)))
    ]


@dataclass(frozen=True, slots=True)
class MissingPurpose:
    key: str
    name: bool  # the name is missing
    description: bool
    used: bool  # inventory items use it


@dataclass(frozen=True, slots=True)
class LanguageStatus:
    """How much of the banner and the declaration a visitor reading ``language`` gets in it."""

    language: str
    texts_total: int
    texts_missing: tuple[str, ...]
    purposes: tuple[MissingPurpose, ...]
    cookies_total: int
    # (item name, its kind): shown without a description to a visitor reading ``language``
    cookies_missing: tuple[tuple[str, str], ...] = field(default=())

    @property
    def name(self) -> str:
        return language_name(self.language)

    @property
    def texts_done(self) -> int:
        return self.texts_total - len(self.texts_missing)

    @property
    def complete(self) -> bool:
        return not (self.texts_missing or self.purposes or self.cookies_missing)

    def summary(self) -> str:
        """``Danish: 37 of 39 texts, 3 cookies without a Danish description``."""
        parts = [f"{self.texts_done} of {self.texts_total} texts"]
        if self.purposes:
            n = len(self.purposes)
            parts.append(f"{n} purpose{'' if n == 1 else 's'} untranslated")
        if self.cookies_missing:
            n = len(self.cookies_missing)
            article = "an" if self.name[:1] in "AEIOU" else "a"
            parts.append(
                f"{n} cookie{'' if n == 1 else 's'} without {article} {self.name} description"
            )
        elif self.cookies_total:
            parts.append(f"all {self.cookies_total} cookies described")
        return f"{self.name}: " + ", ".join(parts)


def _purpose_gaps(
    purposes: Iterable[Purpose], used: set[int], language: str
) -> tuple[MissingPurpose, ...]:
    gaps = []
    for p in purposes:
        name = not (p.name.get(language) or "").strip()
        description = not (p.description.get(language) or "").strip()
        if name or description:
            gaps.append(MissingPurpose(p.key, name, description, p.id in used))
    return tuple(gaps)


async def completeness(
    site: Site, kb: KnowledgeBase | None = None
) -> tuple[LanguageStatus, ...]:
    """Per language of the site, in its order: what the draft would show in another
    language or not at all. The items counted are those the declaration lists (with a
    purpose, not gone)."""
    kb = kb or KnowledgeBase.builtin()
    rows = await InventoryItem.filter(site=site, purpose_id__isnull=False).exclude(
        review_status="gone"
    ).order_by("kind", "name", "id").values_list(
        "name", "kind", "match", "domain", "description", "purpose_id"
    )
    hits: dict[tuple[str, str, str, str | None], Match | None] = {}
    items = []
    used: set[int] = set()
    for name, kind, match, domain, description, purpose_id in rows:
        used.add(int(purpose_id))
        key = (str(name), str(kind), str(match), domain)
        if key not in hits:
            hits[key] = kb_match(kb, key[1], key[0], key[2], domain)
        texts = completed(dict(description or {}), hits[key])
        items.append((key[0] + ("*" if match == "prefix" else ""), key[1],
                      {lang: texts[lang] for lang in site.languages if texts.get(lang)}))
    purposes = await Purpose.filter(site=site).order_by("order", "id")
    statuses = []
    for lang in site.languages:
        missing = tuple((name, kind) for name, kind, texts in items if not texts.get(lang))
        statuses.append(LanguageStatus(
            language=lang,
            texts_total=len(TEXT_KEYS),
            texts_missing=tuple(untranslated_texts(site, lang)),
            purposes=_purpose_gaps(purposes, used, lang),
            cookies_total=len(items),
            cookies_missing=missing,
        ))
    return tuple(statuses)

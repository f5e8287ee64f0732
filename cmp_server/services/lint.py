"""Checks of a draft before it is published: errors refuse publishing, warnings are shown.

- ``missing_text`` (error): a language of the site has no text for something the banner shows,
  so visitors reading it would get another language's words.
- ``purpose_without_description`` (error): a purpose that inventory items use has no
  description in a language: visitors are asked to allow it without being told what it is.
- ``first_layer`` (error): Accept all and Reject all must both be on the first layer, as
  words a visitor can read and tell apart (the embed always renders both buttons: a blank or
  an identical label is what can take one away).
- ``contrast`` (error): the banner's text, links or a button's label on its colours under WCAG
  AA's 4.5:1, or a button's edge against the banner under 3:1 (``services/banner_fit.py``).
- ``button_prominence`` (error): Accept all and Reject all wear different colours (one primary,
  one secondary), so refusing looks less like an option than accepting. Their size and weight
  staff cannot change: the embed gives the first layer's buttons one grid (equal columns, or
  equal rows when stacked) and one font weight.
- ``first_layer_fit`` (error): in a language, the first layer does not fit a 320×568 phone with
  every button in view, by the character budget ``banner_fit.first_layer_fit`` documents.
- ``untranslated`` (warning): a language without built-in texts still holds the English ones.
- ``untranslated_text`` (warning): a banner text the site wrote in another language and not
  in this one (its visitors get our built-in words instead), one finding per text and language.
- ``untranslated_cookie`` (warning): a cookie or storage key of the declaration without a
  description in a language: visitors reading it see its row without one (a row never shows
  another language's words, ``services/translations.py``), one finding per item and language.
- ``purpose_without_description`` (warning) for a purpose nothing uses yet.
- ``unreviewed`` (warning): inventory items no one has reviewed, or items without a purpose
  (they are left out of the banner).
- ``no_rule`` (warning): a third-party host the latest scan saw set a cookie or storage key
  that is not necessary, and no blocking rule holds it back (its tags run before consent);
  ``report_only`` (warning): automatic blocking reports and blocks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from .._utils import plural
from ..defaults import DEFAULT_TEXTS
from ..models import InventoryItem, Purpose, Scan, Site
from ..schemas import Appearance, BlockingRule
from . import blocking, translations
from .appearance import draft_appearance
from .banner_fit import SCREEN, contrast, first_layer_fit
from .drafts import TEXT_KEYS, DraftPurpose, draft_purposes
from .publishing import resolve_texts
from .scan_inventory import present_items
from .scan_results import InventoryIndex, load_report

__all__ = ["Finding", "appearance_findings", "lint"]

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    level: Level
    code: str
    message: str
    language: str | None = None

    @property
    def is_error(self) -> bool:
        return self.level == "error"


def _texts_findings(site: Site) -> list[Finding]:
    found: list[Finding] = []
    english = DEFAULT_TEXTS["en"]
    for lang in site.languages:
        own = site.texts.get(lang, {})
        builtin = DEFAULT_TEXTS.get(lang, {})
        # What ``publishing.resolve_texts`` picks before it leaves the language: the site's
        # own text, else our built-in one; blank or none means another language's words.
        shown = {k: (own.get(k) or builtin.get(k) or "").strip() for k in TEXT_KEYS}
        missing = [k for k in TEXT_KEYS if not shown[k]]
        if missing:
            found.append(Finding(
                "error", "missing_text",
                f"{lang}: no text for {', '.join(missing)} (visitors reading {lang} would see "
                f"the {site.default_language} text)",
                lang,
            ))
        if lang != "en" and not builtin:
            copied = [k for k in TEXT_KEYS if own.get(k) and own.get(k) == english[k]]
            if copied:
                found.append(Finding(
                    "warning", "untranslated",
                    f"{lang}: {plural(len(copied), 'text is', 'texts are')} still the"
                    f" English built-in{' one' if len(copied) == 1 else ' ones'} "
                    f"({', '.join(copied)})",
                    lang,
                ))
        accept, reject = shown["accept_all"], shown["reject_all"]
        if not accept or not reject:
            found.append(Finding(
                "error", "first_layer",
                f"{lang}: the first layer needs both Accept all and Reject all, and "
                f"{'accept_all' if not accept else 'reject_all'} has no words in {lang}",
                lang,
            ))
        elif accept.casefold() == reject.casefold():
            found.append(Finding(
                "error", "first_layer",
                f"{lang}: Accept all and Reject all read the same ({accept!r}): visitors "
                "cannot tell them apart",
                lang,
            ))
    return found


def _purpose_findings(site: Site, purposes: list[DraftPurpose]) -> list[Finding]:
    found: list[Finding] = []
    for p in purposes:
        for lang in site.languages:
            if not p.name.get(lang, "").strip():
                found.append(Finding(
                    "error", "missing_text", f"{lang}: the purpose {p.key!r} has no name", lang
                ))
            if not p.description.get(lang, "").strip():
                used = p.items > 0
                found.append(Finding(
                    "error" if used else "warning", "purpose_without_description",
                    f"{lang}: the purpose {p.key!r} has no description"
                    + (f" and {_items(p.items)} {'uses' if p.items == 1 else 'use'} it"
                       if used else ""),
                    lang,
                ))
    return found


def _items(n: int) -> str:
    return f"{n} inventory item{'' if n == 1 else 's'}"


async def _inventory_findings(site: Site) -> list[Finding]:
    found: list[Finding] = []
    unreviewed = await InventoryItem.filter(site=site, review_status="unreviewed").count()
    if unreviewed:
        found.append(Finding(
            "warning", "unreviewed",
            f"{_items(unreviewed)} {'is' if unreviewed == 1 else 'are'} not reviewed yet: "
            "check their purpose and "
            "vendor before visitors are told about them",
        ))
    unmapped = await InventoryItem.filter(
        site=site, purpose_id__isnull=True
    ).exclude(review_status="gone").count()
    if unmapped:
        found.append(Finding(
            "warning", "unreviewed",
            f"{_items(unmapped)} {'has' if unmapped == 1 else 'have'} no purpose: left out of "
            "the banner and "
            "the declaration",
        ))
    return found


async def _blocking_findings(site: Site) -> list[Finding]:
    mode = site.options.get("auto_blocking", "enforce")
    if mode == "off":
        return []
    found: list[Finding] = []
    if mode == "report":
        found.append(Finding(
            "warning", "report_only",
            "automatic blocking is in report-only mode: it blocks nothing and only says what "
            "it would block",
        ))
    scan = await Scan.filter(site=site).order_by("-finished_at", "-id").only("id").first()
    if scan is None:
        return found
    rules = [BlockingRule(host=r.host, path=r.path, purposes=list(r.purposes))
             for r in await blocking.derive_rules(site) if r.enabled]
    required = {p.key for p in await Purpose.filter(site=site) if p.required}
    rows = InventoryIndex(await present_items(site, "purpose"))
    unheld: dict[str, set[str]] = {}
    for item in (await load_report(scan)).items:
        host = (urlsplit(item.initiator).hostname or "").lower() if item.initiator else ""
        if not host or blocking.first_party(site, host):
            continue
        row = rows.match(item.kind, item.name)
        if row is not None and row.purpose is not None and row.purpose.key in required:
            continue
        rule = blocking.match(rules, item.initiator or "")
        if rule is None or not rule.purposes:
            unheld.setdefault(host, set()).add(item.name)
    for host, names in sorted(unheld.items()):
        shown = sorted(names)
        found.append(Finding(
            "warning", "no_rule",
            f"{host} set {', '.join(shown[:3])}{', …' if len(shown) > 3 else ''} and no "
            "blocking rule holds it back: map the items to a purpose or add a rule",
        ))
    return found


AA_TEXT, AA_EDGE = 4.5, 3.0


def appearance_findings(site: Site, look: Appearance) -> list[Finding]:
    """The findings about the banner's look ``look`` (the draft's, or one being edited)."""
    found: list[Finding] = []
    c = look.colors
    used = {"primary", *(getattr(look.buttons, k) for k in type(look.buttons).model_fields)}
    pairs = [("the text", c.text, c.background), ("links", c.link, c.background)]
    for style in sorted(used):
        label, colour = getattr(c, f"{style}_text"), getattr(c, style)
        pairs.append((f"the {style} buttons' labels", label, colour))
    for what, fg, bg in pairs:
        ratio = contrast(fg, bg)
        if ratio < AA_TEXT:
            found.append(Finding(
                "error", "contrast",
                f"{what} ({fg} on {bg}) have a contrast of {ratio:.2f}:1; WCAG AA asks at "
                f"least {AA_TEXT}:1 so that everyone can read them",
            ))
    for style in sorted(used):
        # A button's edge is its border: the primary's own colour, the secondary's label's.
        edge = c.primary if style == "primary" else c.secondary_text
        ratio = contrast(edge, c.background)
        if ratio < AA_EDGE:
            found.append(Finding(
                "error", "contrast",
                f"the {style} buttons ({edge} on {c.background}) stand out from the banner "
                f"by {ratio:.2f}:1; WCAG asks at least {AA_EDGE}:1 for a button's edge",
            ))
    accept, reject = look.buttons.accept_all, look.buttons.reject_all
    same = getattr(c, accept) == getattr(c, reject) and (
        getattr(c, f"{accept}_text") == getattr(c, f"{reject}_text"))
    if accept != reject and not same:
        found.append(Finding(
            "error", "button_prominence",
            f"Accept all is a {accept} button and Reject all a {reject} one: refusing must "
            "look as much like an option as accepting. Give both the same button colours",
        ))
    texts = resolve_texts(site.texts, list(site.languages), site.default_language)
    width, height = SCREEN
    for lang in site.languages:
        fit = first_layer_fit(look, texts.get(lang, {}), policy=bool(site.policy_url))
        if not fit.fits:
            found.append(Finding(
                "error", "first_layer_fit",
                f"{lang}: the first layer does not fit a {width}×{height} phone in the "
                f"{look.layout} layout (about {fit.needed:.0f} of {fit.room:.0f} px high): "
                f"shorten the title or description by about {fit.over_by} characters",
                lang,
            ))
    return found


async def _translation_findings(site: Site) -> list[Finding]:
    found: list[Finding] = []
    for status in await translations.completeness(site):
        lang, name = status.language, status.name
        for key in status.texts_missing:
            if not DEFAULT_TEXTS.get(lang, {}).get(key):
                # No built-in text: ``missing_text`` (an error) or ``untranslated`` names it.
                continue
            found.append(Finding(
                "warning", "untranslated_text",
                f"{lang}: the text {key!r} is yours in another language but not in {name}: "
                f"visitors reading {name} get our built-in text instead",
                lang,
            ))
        for item, kind in status.cookies_missing:
            what = "cookie" if kind == "cookie" else kind
            found.append(Finding(
                "warning", "untranslated_cookie",
                f"{lang}: the {what} {item} has no {name} description: visitors reading "
                f"{name} see its row without one",
                lang,
            ))
    return found


async def lint(site: Site) -> list[Finding]:
    """Every finding for the draft, errors first."""
    found = [
        *_texts_findings(site),
        *await _translation_findings(site),
        *_purpose_findings(site, await draft_purposes(site)),
        *appearance_findings(site, draft_appearance(site)),
        *await _inventory_findings(site),
        *await _blocking_findings(site),
    ]
    return sorted(found, key=lambda f: not f.is_error)

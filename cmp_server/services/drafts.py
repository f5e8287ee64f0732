"""Editing a site's draft banner: its texts per language and its purposes, and the draft as
the embed would get it (the preview).

Nothing here changes what visitors see: that waits for ``changes.publish_draft``. Every edit
and its audit entry (what it was before, what it is after) commit in one transaction; an edit
that changes nothing writes nothing. The site row is read again, locked where the database can,
inside that transaction, so two staff editing two languages at once do not undo each other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from .._utils import canonical_json, rfc3339, utcnow
from ..defaults import DEFAULT_TEXTS
from ..errors import Conflict, InvalidRequest, NotFound
from ..models import ConfigVersion, InventoryItem, Purpose, Site
from ..schemas import Appearance, PublishedConfig
from . import audit, revisions, sites
from .configs import embed_bundle, render_script
from .publishing import build_config

if TYPE_CHECKING:
    from .staff import Actor

__all__ = [
    "MAX_NAME",
    "MAX_TEXT",
    "TEXT_KEYS",
    "DraftPurpose",
    "add_purpose",
    "check_line",
    "check_text",
    "draft_config",
    "draft_purposes",
    "edit_purpose",
    "edit_texts",
    "move_purpose",
    "preview_script",
    "remove_purpose",
    "reorder_purposes",
]

# Every text the banner renders (the built-in English set is complete by definition).
TEXT_KEYS: tuple[str, ...] = tuple(DEFAULT_TEXTS["en"])
MAX_TEXT = sites.MAX_TEXT
MAX_NAME = 200
# NUL is refused by PostgreSQL (and stored by SQLite); the other C0 controls and lone
# surrogates have no place in a banner either. Tab and newlines are kept in longer texts.
_UNSTORABLE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_UNSTORABLE_LINE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def check_text(
    value: str, what: str = "the text", *, limit: int = MAX_TEXT, field: str | None = None
) -> str:
    """A text as stored: surrounding space trimmed; refused (``InvalidRequest``) when too
    long or holding control characters. Empty means "use the built-in text"."""
    return _check(value, what, limit, _UNSTORABLE_TEXT, field)


def check_line(
    value: str, what: str = "the name", *, limit: int = MAX_NAME, field: str | None = None
) -> str:
    """One line (a purpose's name): as ``check_text``, and no line breaks."""
    return _check(value, what, limit, _UNSTORABLE_LINE, field)


def _check(value: str, what: str, limit: int, bad: re.Pattern[str], field: str | None) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{what} must be text", field=field)
    found = bad.search(value)
    if found is not None:
        raise InvalidRequest(
            f"{what} must not contain control characters (found U+{ord(found[0]):04X})",
            field=field,
        )
    text = value.strip()
    if len(text) > limit:
        raise InvalidRequest(f"{what} may be at most {limit} characters (it has {len(text)})",
                             field=field)
    return text


async def _locked(site: Site) -> Site:
    """The site row as it is now, inside the caller's transaction (locked on PostgreSQL)."""
    fresh = await Site.select_for_update().filter(id=site.id).first()
    if fresh is None:
        raise NotFound(f"no site with key {site.key!r}")
    return fresh


def _language(site: Site, language: str) -> str:
    if language not in site.languages:
        raise InvalidRequest(
            f"{language!r} is not one of the site's languages ({', '.join(site.languages)})",
            field="language",
        )
    return language


async def edit_texts(
    site: Site, language: str, texts: Mapping[str, str], *, by: Actor | None = None,
    version: int | None = None,
) -> dict[str, tuple[str, str]]:
    """Set banner texts of one language (``{key: text}``; an empty text falls back to the
    built-in one). Returns what changed, ``{key: (before, after)}``. ``version``: the
    language's texts as the form read them (``revisions.texts``); newer ones are not
    overwritten (``StaleEdit``)."""
    _language(site, language)
    unknown = sorted(set(texts) - set(TEXT_KEYS))
    if unknown:
        raise InvalidRequest(f"the banner has no text {unknown[0]!r}", field="texts")
    checked = {
        key: check_text(text, f"the text {key!r}", field=f"texts.{key}")
        for key, text in texts.items()
    }
    async with in_transaction():
        fresh = await _locked(site)
        own = fresh.texts.get(language, {})
        changed = {
            key: (own.get(key, ""), text)
            for key, text in checked.items() if own.get(key, "") != text
        }
        if changed:
            await sites.update_site(
                fresh, texts={language: {k: v[1] for k, v in changed.items()}}, by=by
            )
            entry = await audit.record(
                by, "banner.texts", "site", site.key, site=fresh,
                before={"language": language, "texts": {k: v[0] for k, v in changed.items()}},
                after={"language": language, "texts": {k: v[1] for k, v in changed.items()}},
            )
            await revisions.advance(revisions.texts(fresh, language), entry, version)
    site.texts = fresh.texts
    return changed


@dataclass(frozen=True)
class DraftPurpose:
    """A purpose of the draft as the editor shows it."""

    key: str
    required: bool
    order: int
    name: dict[str, str]
    description: dict[str, str]
    items: int  # inventory items mapped to it
    options: tuple[str, ...]  # the banner options naming it (GPC, Consent Mode signals)

    @property
    def removable(self) -> bool:
        return not self.required and not self.options


def _option_uses(options: Mapping[str, Any]) -> dict[str, list[str]]:
    """purpose key → the options that name it."""
    uses: dict[str, list[str]] = {}
    gpc = options.get("gpc") or {}
    for key in gpc.get("purposes") or ():
        uses.setdefault(key, []).append("Global Privacy Control")
    mode = options.get("consent_mode") or {}
    for signal, keys in sorted((mode.get("map") or {}).items()):
        for key in keys:
            uses.setdefault(key, []).append(f"Consent Mode {signal}")
    return uses


async def draft_purposes(site: Site) -> list[DraftPurpose]:
    purposes = await Purpose.filter(site=site).order_by("order", "id")
    counts: dict[int, int] = {}
    ids: list[Any] = list(await InventoryItem.filter(
        site=site, purpose_id__isnull=False
    ).values_list("purpose_id", flat=True))
    for purpose_id in ids:
        counts[int(purpose_id)] = counts.get(int(purpose_id), 0) + 1
    uses = _option_uses(site.options)
    return [
        DraftPurpose(
            key=p.key, required=p.required, order=p.order, name=dict(p.name),
            description=dict(p.description), items=counts.get(p.id, 0),
            options=tuple(uses.get(p.key, ())),
        )
        for p in purposes
    ]


def _purpose_record(p: Purpose) -> dict[str, Any]:
    return {
        "key": p.key, "required": p.required, "order": p.order,
        "name": dict(p.name), "description": dict(p.description),
    }


def _checked_i18n(
    site: Site, values: Mapping[str, str] | None, what: str, line: bool
) -> dict[str, str] | None:
    if values is None:
        return None
    check = check_line if line else check_text
    return {
        _language(site, lang): check(text, f"the {what} ({lang})", field=what)
        for lang, text in values.items()
    }


async def add_purpose(
    site: Site,
    key: str,
    *,
    name: Mapping[str, str],
    description: Mapping[str, str] | None = None,
    by: Actor | None = None,
) -> DraftPurpose:
    """A new, optional purpose at the end. Visitors are asked again once it is published.
    Its version moves (``revisions.purpose``): a form read before a purpose of that key was
    removed and this one added is refused."""
    names = _checked_i18n(site, name, "name", True) or {}
    descriptions = _checked_i18n(site, description, "description", False) or {}
    if not any(names.values()):
        raise InvalidRequest("a new purpose needs a name", field="name")
    async with in_transaction():
        fresh = await _locked(site)
        if await Purpose.exists(site=fresh, key=key):
            raise Conflict(f"the site already has a purpose {key!r}", field="key")
        purpose = await sites.set_purpose(
            fresh, key, required=False,
            name={k: v for k, v in names.items() if v},
            description={k: v for k, v in descriptions.items() if v},
        )
        entry = await audit.record(
            by, "purpose.add", "purpose", key, site=fresh, after=_purpose_record(purpose)
        )
        await revisions.advance(revisions.purpose(fresh, key), entry, None)
    return (await _one(site, key))


async def _one(site: Site, key: str) -> DraftPurpose:
    for purpose in await draft_purposes(site):
        if purpose.key == key:
            return purpose
    raise NotFound(f"no purpose {key!r} on this site")


async def _purpose(site: Site, key: str) -> Purpose:
    # Only what a purpose key can be: a NUL from a URL's "%00" never reaches PostgreSQL.
    known = re.fullmatch(r"[a-z0-9_-]{1,40}", key)
    purpose = await Purpose.get_or_none(site=site, key=key) if known else None
    if purpose is None:
        raise NotFound(f"no purpose {key!r} on this site")
    return purpose


async def edit_purpose(
    site: Site,
    key: str,
    *,
    name: Mapping[str, str] | None = None,
    description: Mapping[str, str] | None = None,
    by: Actor | None = None,
    version: int | None = None,
) -> DraftPurpose:
    """Change a purpose's name and description in the languages given (empty: none), over
    ``version`` (``revisions.purpose``) when given."""
    names = _checked_i18n(site, name, "name", True)
    descriptions = _checked_i18n(site, description, "description", False)
    async with in_transaction():
        fresh = await _locked(site)
        purpose = await _purpose(fresh, key)
        before = _purpose_record(purpose)
        if names is not None and not any({**purpose.name, **names}.values()):
            raise InvalidRequest("a purpose needs a name in at least one language",
                                 field="name")
        updated = await sites.set_purpose(fresh, key, name=names, description=descriptions)
        after = _purpose_record(updated)
        if after != before:
            entry = await audit.record(
                by, "purpose.edit", "purpose", key, site=fresh,
                before={k: v for k, v in before.items() if after[k] != v},
                after={k: v for k, v in after.items() if before[k] != v},
            )
            await revisions.advance(revisions.purpose(fresh, key), entry, version)
    return await _one(site, key)


async def remove_purpose(
    site: Site, key: str, *, by: Actor | None = None, version: int | None = None
) -> None:
    """Drop an optional purpose from the draft; its inventory items become unclassified.
    Required purposes stay, and so does a purpose the banner options name (an empty Consent
    Mode list means "always granted": dropping the purpose from it would grant the signal).
    Refused (``StaleEdit``) when it changed since ``version`` (``revisions.purpose``): staff
    remove what they saw, not a purpose edited meanwhile."""
    async with in_transaction():
        fresh = await _locked(site)
        purpose = await _purpose(fresh, key)
        if purpose.required:
            raise InvalidRequest(f"{key!r} is required: required purposes cannot be removed")
        uses = _option_uses(fresh.options).get(key)
        if uses:
            raise InvalidRequest(
                f"{key!r} is named by the banner options ({', '.join(uses)}): change those "
                "first"
            )
        items = await InventoryItem.filter(site=fresh, purpose_id=purpose.id).count()
        before = {**_purpose_record(purpose), "items": items}
        await sites.remove_purpose(fresh, key)
        entry = await audit.record(by, "purpose.remove", "purpose", key, site=fresh,
                                   before=before)
        await revisions.advance(revisions.purpose(fresh, key), entry, version)


async def reorder_purposes(
    site: Site, keys: Sequence[str], *, by: Actor | None = None
) -> list[str]:
    """Put the purposes in this order (every key once); returns the order."""
    async with in_transaction():
        fresh = await _locked(site)
        purposes = await Purpose.filter(site=fresh).order_by("order", "id")
        current = [p.key for p in purposes]
        if sorted(keys) != sorted(current) or len(set(keys)) != len(keys):
            raise InvalidRequest(f"give every purpose once: {', '.join(current)}")
        wanted = list(keys)
        if wanted != current or [p.order for p in purposes] != list(range(len(purposes))):
            for purpose in purposes:
                await sites.set_purpose(fresh, purpose.key, order=wanted.index(purpose.key))
        if wanted != current:
            await audit.record(
                by, "purpose.reorder", "site", site.key, site=fresh,
                before={"order": current}, after={"order": wanted},
            )
    return wanted


async def move_purpose(
    site: Site, key: str, step: int, *, by: Actor | None = None
) -> list[str]:
    """Move a purpose ``step`` places (-1: up, 1: down), stopping at either end."""
    order = [p.key for p in await draft_purposes(site)]
    if key not in order:
        raise NotFound(f"no purpose {key!r} on this site")
    at = order.index(key)
    to = max(0, min(len(order) - 1, at + step))
    order.insert(to, order.pop(at))
    return await reorder_purposes(site, order, by=by)


async def draft_config(site: Site) -> PublishedConfig:
    """The draft as the next version's config would be, hashes included (``published_at``
    aside: it is not published)."""
    last = await ConfigVersion.filter(site=site).order_by("-number").first()
    return await build_config(site, (last.number if last else 0) + 1)


async def preview_script(site: Site, look: Appearance | None = None) -> bytes:
    """The embed with the draft inlined, through the same ``render_script`` that serves
    ``GET /v1/sites/{key}/cmp.js``. ``preview: true`` tells the embed to send no receipt and
    write no cookie (it keeps the choice in memory). ``look``: an appearance being edited,
    shown instead of the draft's (nothing is saved)."""
    config = await draft_config(site)
    update: dict[str, Any] = {"published_at": rfc3339(utcnow())}
    if look is not None:
        update["appearance"] = look
    shown = config.model_copy(update=update).json_object()
    return render_script(embed_bundle(), canonical_json({**shown, "preview": True}))

"""Publishing: the draft becomes an immutable, numbered ConfigVersion.

The JSON a visitor's browser gets is serialised here, once per version; the HTTP layer serves
the stored bytes (see ``configs.ConfigCache``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from scanner.kb import KnowledgeBase

from .._utils import canonical_json, rfc3339, sha256_hex
from ..defaults import DEFAULT_TEXTS
from ..errors import Conflict, SiteNotFound
from ..models import ConfigVersion, InventoryItem, Purpose, Site, Vendor
from ..schemas import (
    ConfigCookie,
    ConfigOptions,
    ConfigPurpose,
    ConfigVendor,
    PublishedConfig,
)
from . import audit, blocking, events, translations
from .appearance import draft_appearance

if TYPE_CHECKING:
    from .staff import Actor

__all__ = [
    "UNCOMPARED",
    "build_config",
    "comparable",
    "fingerprint",
    "material_hash",
    "parse_config",
    "publish",
    "resolve_texts",
    "texts_for_language",
]


def resolve_texts(
    site_texts: dict[str, dict[str, str]], languages: list[str], default_language: str
) -> dict[str, dict[str, str]]:
    """Every text the banner can render, for every language, decided once at publish time.

    For each key: the site's own text in that language, our built-in text in that language,
    the site's text in its default language, our built-in text in the default language, our
    English. The embed renders only what this returns (it has no texts of its own), so the
    hash on a receipt covers exactly the words on screen, also for a key added after the site
    was created. Keys the banner does not render are left out; an empty text counts as none.
    """
    keys = DEFAULT_TEXTS["en"].keys()
    resolved: dict[str, dict[str, str]] = {}
    for lang in languages:
        chain = (
            site_texts.get(lang, {}),
            DEFAULT_TEXTS.get(lang, {}),
            site_texts.get(default_language, {}),
            DEFAULT_TEXTS.get(default_language, {}),
            DEFAULT_TEXTS["en"],
        )
        resolved[lang] = {key: next(t[key] for t in chain if t.get(key)) for key in keys}
    return resolved


def _resolve_i18n(values: dict[str, str], languages: list[str], default: str) -> dict[str, str]:
    """A purpose's name or description in every language: its own, else the default's."""
    fallback = values.get(default) or next((v for v in values.values() if v), "")
    return {lang: values.get(lang) or fallback for lang in languages}


def _own_i18n(values: dict[str, str], languages: list[str]) -> dict[str, str]:
    """A cookie's description in the site's languages it really exists in: a row of the
    declaration is in the visitor's language only (``services/translations.py``)."""
    return {lang: values[lang] for lang in languages if values.get(lang)}


def texts_for_language(config: PublishedConfig, language: str) -> dict[str, Any]:
    """Exactly what a visitor reading ``language`` is shown: its hash goes on every receipt
    (so this JSON's shape is part of every stored receipt's proof: never change it).
    The config's texts are already resolved (``resolve_texts``): nothing is filled in here."""
    return {
        "texts": config.texts.get(language, {}),
        "policy_url": config.policy_url,
        "purposes": [
            {
                "key": p.key,
                "name": p.name.get(language, ""),
                "description": p.description.get(language, ""),
            }
            for p in config.purposes
        ],
        "vendors": [
            {
                "key": v.key,
                "name": v.name,
                "country": v.country,
                "transfers_outside_eea": v.transfers_outside_eea,
                "transfer_basis": v.transfer_basis,
                "privacy_policy_url": v.privacy_policy_url,
            }
            for v in config.vendors
        ],
        # The second layer lists each purpose's cookies: their words are shown too.
        "cookies": [
            {
                "name": c.name,
                "match": c.match,
                "vendor": c.vendor,
                "purpose": c.purpose,
                "duration_days": c.duration_days,
                "description": c.description.get(language, ""),
            }
            for c in config.cookies
        ],
    }


async def build_config(site: Site, number: int) -> PublishedConfig:
    """The config as in docs/contracts.md, with its material hash, without ``published_at``."""
    purposes = await Purpose.filter(site=site).order_by("order", "id")
    vendors = await Vendor.filter(site=site).order_by("key")
    items = (
        await InventoryItem.filter(site=site, purpose_id__isnull=False)
        .exclude(review_status="gone")  # staff said the site no longer sets it
        .select_related("purpose", "vendor")
        .order_by("kind", "name", "id")
    )
    languages, default = list(site.languages), site.default_language
    vendor_purposes: dict[str, set[str]] = {}
    for item in items:
        if item.vendor is not None and item.purpose is not None:
            vendor_purposes.setdefault(item.vendor.key, set()).add(item.purpose.key)
    options = ConfigOptions.model_validate({
        **site.options,
        "consent_lifetime_days": site.consent_lifetime_days,
        "cookie_domain": site.cookie_domain,
    })
    rules = await blocking.derive_rules(site) if options.auto_blocking != "off" else []
    kb = KnowledgeBase.builtin()
    config = PublishedConfig(
        site_key=site.key,
        version=number,
        default_language=site.default_language,
        languages=list(site.languages),
        policy_url=site.policy_url,
        texts=resolve_texts(site.texts, languages, default),
        purposes=[
            ConfigPurpose(
                key=p.key,
                required=p.required,
                name=_resolve_i18n(p.name, languages, default),
                description=_resolve_i18n(p.description, languages, default),
            )
            for p in purposes
        ],
        vendors=[
            ConfigVendor(
                key=v.key,
                name=v.name,
                country=v.country,
                privacy_policy_url=v.privacy_policy_url,
                transfers_outside_eea=v.transfers_outside_eea,
                transfer_basis=v.transfer_basis,
                purposes=sorted(vendor_purposes.get(v.key, ())),
            )
            for v in vendors
        ],
        cookies=[
            ConfigCookie(
                name=i.name,
                match=i.match,  # type: ignore[arg-type]  # a CharField holding exact | prefix
                kind=i.kind,
                domain=i.domain,
                vendor=i.vendor.key if i.vendor else None,
                purpose=i.purpose.key if i.purpose else None,
                duration_days=i.duration_days,
                party=i.party,
                description=_own_i18n(translations.item_description(i, kb), languages),
            )
            for i in items
        ],
        options=options,
        blocking=blocking.published_blocking(rules, options.auto_blocking),
        appearance=draft_appearance(site),
    )
    return config.model_copy(update={"material_hash": material_hash(config)})


def material_hash(config: PublishedConfig) -> str:
    """Changes when what a visitor consented to changes, not when a text is reworded."""
    material = {
        "purposes": [[p.key, p.required] for p in config.purposes],
        "vendors": [v.key for v in config.vendors],
    }
    return sha256_hex(canonical_json(material))


# Not what a version says but when and as what it was made: left out when two configs (the
# draft and a version, or two versions) are compared.
UNCOMPARED = frozenset({"version", "published_at", "material_hash"})


def comparable(config: PublishedConfig) -> dict[str, Any]:
    """The config as JSON, without what ``UNCOMPARED`` names: the diff's and the
    fingerprint's input."""
    return config.model_dump(mode="json", exclude=set(UNCOMPARED))


def fingerprint(config: PublishedConfig) -> str:
    """Equal for two configs that say the same (a draft and the version made from it)."""
    return sha256_hex(canonical_json(comparable(config)))


async def publish(
    site: Site,
    *,
    by: Actor | None = None,
    published_by: str | None = None,
    expected: str | None = None,
) -> ConfigVersion:
    """Publish the draft as the next version, audited as ``by`` (the version names
    ``published_by``, else ``by``'s email). No checks: ``changes.publish_draft`` lints first.
    ``expected``: the draft's ``fingerprint`` when staff looked at it; a draft that has moved
    since is refused (``Conflict``) instead of published unseen."""
    if published_by is None and by is not None:
        published_by = by.email
    async with in_transaction():
        # Lock the site row where the database can, so two publishes get distinct numbers;
        # the unique (site, number) constraint is the backstop everywhere.
        # The row as it is now, not as the caller read it: the draft published is the draft.
        fresh = await Site.select_for_update().filter(id=site.id).first()
        if fresh is None:
            raise SiteNotFound(f"no site with key {site.key!r}")
        last = await ConfigVersion.filter(site=fresh).order_by("-number").first()
        number = (last.number if last else 0) + 1
        config = await build_config(fresh, number)
        if expected is not None and fingerprint(config) != expected:
            raise Conflict(
                "the draft changed since its summary was shown: look at the summary again"
            )
        text_hashes = {
            lang: sha256_hex(canonical_json(texts_for_language(config, lang)))
            for lang in config.languages
        }
        version = await ConfigVersion.create(
            site=site,
            number=number,
            canonical_json="",
            content_hash="",
            material_hash=config.material_hash,
            text_hashes=text_hashes,
            published_by=published_by,
        )
        config = config.model_copy(update={"published_at": rfc3339(version.published_at)})
        body = canonical_json(config.json_object())
        version.canonical_json = body.decode()
        version.content_hash = sha256_hex(body)
        await version.save(update_fields=["canonical_json", "content_hash"])
        await audit.record(
            by, "config.publish", "config_version", number, site=site,
            after={
                "number": number,
                "content_hash": version.content_hash,
                "material_hash": version.material_hash,
                "material": last is None or last.material_hash != version.material_hash,
            },
        )
        await events.emit(site, "version.published", {
            "version": number,
            "asks_visitors_again": last is None or last.material_hash != version.material_hash,
            "published_by": published_by,
            "admin_path": f"/admin/sites/{site.key}/versions/{number}",
        })
    return version


def parse_config(version: ConfigVersion) -> PublishedConfig:
    return PublishedConfig.model_validate_json(version.canonical_json)

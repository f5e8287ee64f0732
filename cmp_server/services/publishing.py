"""Publishing: the draft becomes an immutable, numbered ConfigVersion.

The JSON a visitor's browser gets is serialised here, once per version; the HTTP layer serves
the stored bytes (see ``configs.ConfigCache``).
"""

from __future__ import annotations

from typing import Any

import orjson
from tortoise.transactions import in_transaction

from .._utils import canonical_json, sha256_hex
from ..defaults import DEFAULT_TEXTS
from ..models import ConfigVersion, InventoryItem, Purpose, Site, Vendor

__all__ = ["build_config", "publish", "texts_for_language"]


def texts_for_language(config: dict[str, Any], language: str) -> dict[str, Any]:
    """Exactly what a visitor reading ``language`` is shown: its hash goes on every receipt."""
    texts = {**DEFAULT_TEXTS["en"], **config["texts"].get(config["default_language"], {})}
    texts.update(config["texts"].get(language, {}))

    def pick(values: dict[str, str]) -> str:
        return values.get(language) or values.get(config["default_language"]) or ""

    return {
        "texts": texts,
        "policy_url": config["policy_url"],
        "purposes": [
            {"key": p["key"], "name": pick(p["name"]), "description": pick(p["description"])}
            for p in config["purposes"]
        ],
        "vendors": [
            {
                "key": v["key"],
                "name": v["name"],
                "country": v["country"],
                "transfers_outside_eea": v["transfers_outside_eea"],
                "transfer_basis": v["transfer_basis"],
            }
            for v in config["vendors"]
        ],
    }


async def build_config(site: Site, number: int) -> dict[str, Any]:
    """The config as in docs/contracts.md, without ``published_at`` and the hashes."""
    purposes = await Purpose.filter(site=site).order_by("order", "id")
    vendors = await Vendor.filter(site=site).order_by("key")
    items = (
        await InventoryItem.filter(site=site, purpose_id__isnull=False)
        .select_related("purpose", "vendor")
        .order_by("kind", "name", "id")
    )
    vendor_purposes: dict[str, set[str]] = {}
    for item in items:
        if item.vendor is not None and item.purpose is not None:
            vendor_purposes.setdefault(item.vendor.key, set()).add(item.purpose.key)
    return {
        "site_key": site.key,
        "version": number,
        "default_language": site.default_language,
        "languages": list(site.languages),
        "policy_url": site.policy_url,
        "texts": {lang: dict(site.texts.get(lang, {})) for lang in site.languages},
        "purposes": [
            {
                "key": p.key,
                "required": p.required,
                "name": dict(p.name),
                "description": dict(p.description),
            }
            for p in purposes
        ],
        "vendors": [
            {
                "key": v.key,
                "name": v.name,
                "country": v.country,
                "privacy_policy_url": v.privacy_policy_url,
                "transfers_outside_eea": v.transfers_outside_eea,
                "transfer_basis": v.transfer_basis,
                "purposes": sorted(vendor_purposes.get(v.key, ())),
            }
            for v in vendors
        ],
        "cookies": [
            {
                "name": i.name,
                "match": i.match,
                "kind": i.kind,
                "domain": i.domain,
                "vendor": i.vendor.key if i.vendor else None,
                "purpose": i.purpose.key if i.purpose else None,
                "duration_days": i.duration_days,
                "party": i.party,
                "description": dict(i.description),
            }
            for i in items
        ],
        "options": {
            **site.options,
            "consent_lifetime_days": site.consent_lifetime_days,
            "cookie_domain": site.cookie_domain,
        },
    }


def material_hash(config: dict[str, Any]) -> str:
    """Changes when what a visitor consented to changes, not when a text is reworded."""
    material = {
        "purposes": [[p["key"], p["required"]] for p in config["purposes"]],
        "vendors": [v["key"] for v in config["vendors"]],
    }
    return sha256_hex(canonical_json(material))


async def publish(site: Site, *, published_by: str | None = None) -> ConfigVersion:
    async with in_transaction():
        # Lock the site row where the database can, so two publishes get distinct numbers;
        # the unique (site, number) constraint is the backstop everywhere.
        await Site.select_for_update().filter(id=site.id).first()
        last = await ConfigVersion.filter(site=site).order_by("-number").first()
        number = (last.number if last else 0) + 1
        config = await build_config(site, number)
        config["material_hash"] = material_hash(config)
        text_hashes = {
            lang: sha256_hex(canonical_json(texts_for_language(config, lang)))
            for lang in config["languages"]
        }
        version = await ConfigVersion.create(
            site=site,
            number=number,
            canonical_json="",
            content_hash="",
            material_hash=config["material_hash"],
            text_hashes=text_hashes,
            published_by=published_by,
        )
        config["published_at"] = version.published_at.isoformat().replace("+00:00", "Z")
        body = canonical_json(config)
        version.canonical_json = body.decode()
        version.content_hash = sha256_hex(body)
        await version.save(update_fields=["canonical_json", "content_hash"])
    return version


def parse_config(version: ConfigVersion) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(version.canonical_json)
    return parsed

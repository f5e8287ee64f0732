"""Sites and their draft banner settings."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from tortoise.transactions import in_transaction

from .. import defaults
from .._utils import new_site_key
from ..errors import InvalidRequest, SiteNotFound
from ..models import Purpose, Site
from ..schemas import BannerOptions

__all__ = [
    "create_site",
    "get_site",
    "normalise_domain",
    "remove_purpose",
    "set_purpose",
    "update_site",
]

MAX_TEXT = 4000
_PURPOSE_KEY = re.compile(r"[a-z0-9_-]{1,40}")

_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*|[0-9a-f:.]+")


def normalise_domain(value: str) -> str:
    """``https://www.Example.se:8443/x`` → ``www.example.se``; raises on what is no host name."""
    text = value.strip()
    try:
        host = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    except ValueError:
        host = ""
    host = host.strip(".")
    if not host or len(host) > 253 or not _HOST.fullmatch(host):
        raise InvalidRequest(f"not a domain name: {value!r}")
    return host


async def create_site(
    name: str,
    domains: Sequence[str],
    *,
    languages: Sequence[str] = defaults.LANGUAGES,
    default_language: str = "en",
    policy_url: str | None = None,
    consent_lifetime_days: int = 180,
    cookie_domain: str | None = None,
) -> Site:
    """Create a site with the four default purposes and our texts in en, sv and da."""
    if not name.strip():
        raise InvalidRequest("a site needs a name")
    hosts = [normalise_domain(d) for d in domains]
    if not hosts:
        raise InvalidRequest("a site needs at least one domain")
    if default_language not in languages:
        raise InvalidRequest(f"default language {default_language!r} is not among {languages}")
    texts = {
        lang: dict(defaults.DEFAULT_TEXTS.get(lang, defaults.DEFAULT_TEXTS["en"]))
        for lang in languages
    }
    async with in_transaction():
        site = await Site.create(
            key=new_site_key(),
            name=name.strip(),
            domains=hosts,
            languages=list(languages),
            default_language=default_language,
            policy_url=policy_url,
            consent_lifetime_days=consent_lifetime_days,
            cookie_domain=cookie_domain,
            texts=texts,
            options=copy.deepcopy(defaults.DEFAULT_OPTIONS),
        )
        for order, (key, required, names, descriptions) in enumerate(defaults.DEFAULT_PURPOSES):
            await Purpose.create(
                site=site,
                key=key,
                required=required,
                order=order,
                name={lang: names.get(lang, names["en"]) for lang in languages},
                description={
                    lang: descriptions.get(lang, descriptions["en"]) for lang in languages
                },
            )
    return site


async def get_site(key: str) -> Site:
    site = await Site.get_or_none(key=key) if 0 < len(key) <= 32 else None
    if site is None:
        raise SiteNotFound(f"no site with key {key!r}")
    return site


async def update_site(
    site: Site,
    *,
    texts: dict[str, dict[str, str]] | None = None,
    domains: Sequence[str] | None = None,
    policy_url: str | None = None,
    consent_lifetime_days: int | None = None,
    receipt_retention_days: int | None = None,
    cookie_domain: str | None = None,
    options: dict[str, Any] | None = None,
    scan_url: str | None = None,
    scan_interval_hours: int | None = None,
) -> Site:
    """Edit the draft. Nothing a visitor sees changes until ``publishing.publish``."""
    if texts is not None:
        merged = copy.deepcopy(site.texts)
        for lang, entries in texts.items():
            if lang not in site.languages:
                raise InvalidRequest(f"{lang!r} is not one of the site's languages")
            for key, text in entries.items():
                if not isinstance(text, str) or len(text) > MAX_TEXT:
                    raise InvalidRequest(f"text {key!r} must be a string of at most {MAX_TEXT}")
            merged.setdefault(lang, {}).update(entries)
        site.texts = merged
    if options is not None:
        try:
            checked = BannerOptions.model_validate({**site.options, **options})
        except ValidationError as exc:
            raise InvalidRequest(f"invalid banner options: {exc.errors()[0]['msg']}") from None
        purposes = {p.key for p in await Purpose.filter(site=site)}
        unknown = checked.purpose_keys() - purposes
        if unknown:
            raise InvalidRequest(f"options name unknown purposes: {', '.join(sorted(unknown))}")
        site.options = checked.model_dump(mode="json")
    if scan_url is not None:
        site.scan_url = scan_url or None
    if scan_interval_hours is not None:
        site.scan_interval_hours = scan_interval_hours or None
    if domains is not None:
        site.domains = [normalise_domain(d) for d in domains]
    if policy_url is not None:
        site.policy_url = policy_url
    if consent_lifetime_days is not None:
        if not 1 <= consent_lifetime_days <= 395:
            # Regulators (CNIL, Datatilsynet) point to 6-13 months as the longest reasonable.
            raise InvalidRequest("consent lifetime must be between 1 and 395 days")
        site.consent_lifetime_days = consent_lifetime_days
    if receipt_retention_days is not None:
        if receipt_retention_days < 1:
            raise InvalidRequest("receipt retention must be at least one day")
        site.receipt_retention_days = receipt_retention_days
    if cookie_domain is not None:
        site.cookie_domain = cookie_domain or None
    await site.save()
    return site


async def set_purpose(
    site: Site,
    key: str,
    *,
    required: bool | None = None,
    order: int | None = None,
    name: dict[str, str] | None = None,
    description: dict[str, str] | None = None,
) -> Purpose:
    """Add a purpose to the draft, or change one. Adding or dropping a purpose, or changing
    whether it is required, is a material change: visitors are asked again after publishing."""
    if not _PURPOSE_KEY.fullmatch(key):
        raise InvalidRequest("a purpose key is 1-40 lowercase letters, digits, _ or -")
    for texts in (name or {}, description or {}):
        if set(texts) - set(site.languages):
            raise InvalidRequest("texts are only for the site's languages")
    purpose = await Purpose.get_or_none(site=site, key=key)
    if purpose is None:
        if not name:
            raise InvalidRequest("a new purpose needs a name")
        last = await Purpose.filter(site=site).order_by("-order").first()
        purpose = Purpose(site=site, key=key, order=(last.order + 1) if last else 0)
    if required is not None:
        purpose.required = required
    if order is not None:
        purpose.order = order
    if name is not None:
        purpose.name = {**purpose.name, **name}
    if description is not None:
        purpose.description = {**purpose.description, **description}
    await purpose.save()
    return purpose


async def remove_purpose(site: Site, key: str) -> None:
    """Drop a purpose from the draft; its inventory items become unclassified."""
    deleted = await Purpose.filter(site=site, key=key).delete()
    if not deleted:
        raise InvalidRequest(f"no purpose {key!r} on this site")

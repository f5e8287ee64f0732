"""Sites and their draft banner settings."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from tortoise.transactions import in_transaction

from .. import defaults
from .._utils import new_site_key
from ..errors import InvalidRequest, SiteNotFound
from ..models import Purpose, Site

__all__ = ["create_site", "get_site", "normalise_domain", "update_site"]

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
) -> Site:
    """Edit the draft. Nothing a visitor sees changes until ``publishing.publish``."""
    if texts is not None:
        merged = copy.deepcopy(site.texts)
        for lang, entries in texts.items():
            if lang not in site.languages:
                raise InvalidRequest(f"{lang!r} is not one of the site's languages")
            merged.setdefault(lang, {}).update(entries)
        site.texts = merged
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

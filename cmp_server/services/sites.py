"""Sites and their draft banner settings."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from tortoise.transactions import in_transaction

from .. import defaults
from .._utils import new_site_key
from ..errors import DomainClaimed, InvalidRequest, SiteNotFound
from ..models import Purpose, Site
from ..schemas import BannerOptions
from ..validation import plain_message
from . import audit, revisions
from ._site_checks import (
    MAX_NAME,
    MAX_URL,
    check_cookie_domain,
    check_languages,
    check_name,
    check_url,
    normalise_domain,
)

if TYPE_CHECKING:
    from .staff import Actor

__all__ = [
    "MAX_NAME",
    "MAX_RETENTION_DAYS",
    "MAX_TEXT",
    "MAX_URL",
    "check_cookie_domain",
    "check_languages",
    "check_name",
    "check_url",
    "claimed_domains",
    "create_site",
    "get_site",
    "list_sites",
    "normalise_domain",
    "purpose_keys",
    "remove_purpose",
    "set_purpose",
    "update_site",
]

MAX_TEXT = 4000
MAX_RETENTION_DAYS = 3650
# What the audit log keeps of a site before and after an edit (texts are the banner's).
_AUDITED = (
    "name", "domains", "languages", "default_language", "consent_lifetime_days",
    "receipt_retention_days", "cookie_domain", "policy_url", "options",
)
_SITE_KEY = re.compile(r"[A-Za-z0-9_-]{1,32}")
_PURPOSE_KEY = re.compile(r"[a-z0-9_-]{1,40}")


async def claimed_domains(hosts: Sequence[str], *, other_than: Site | None = None) -> list[str]:
    """Which of ``hosts`` another site already lists (a shared domain: two banners on one
    site, and receipts accepted for both)."""
    wanted = set(hosts)
    query = Site.all() if other_than is None else Site.exclude(id=other_than.id)
    taken: set[str] = set()
    for domains in await query.values_list("domains", flat=True):
        taken.update(wanted.intersection(domains or ()))
    return sorted(taken)


async def _refuse_claimed(hosts: Sequence[str], site: Site | None, force: bool) -> None:
    taken = await claimed_domains(hosts, other_than=site)
    if taken and not force:
        raise DomainClaimed(
            f"another site already has {', '.join(taken)}: two sites sharing a domain means two"
            " banners and receipts accepted for both; share it only on purpose (force)",
            field="domains",
        )


async def create_site(
    name: str,
    domains: Sequence[str],
    *,
    languages: Sequence[str] = defaults.LANGUAGES,
    default_language: str = "en",
    policy_url: str | None = None,
    consent_lifetime_days: int = 180,
    receipt_retention_days: int = 1095,
    cookie_domain: str | None = None,
    force: bool = False,
    by: Actor | None = None,
) -> Site:
    """Create a site with the four default purposes and our texts in en, sv and da.
    A domain another site has is refused (``DomainClaimed``) unless ``force``."""
    name = check_name(name)
    hosts = [normalise_domain(d) for d in domains]
    if not hosts:
        raise InvalidRequest("a site needs at least one domain", field="domains")
    policy_url = check_url(policy_url, "the policy URL", field="policy_url")
    languages = check_languages(languages)
    if default_language not in languages:
        raise InvalidRequest(f"default language {default_language!r} is not among {languages}",
                             field="default_language")
    cookie_domain = check_cookie_domain(cookie_domain)
    texts = {
        lang: dict(defaults.DEFAULT_TEXTS.get(lang, defaults.DEFAULT_TEXTS["en"]))
        for lang in languages
    }
    async with in_transaction():
        await _refuse_claimed(hosts, None, force)
        site = await Site.create(
            key=new_site_key(),
            name=name,
            domains=hosts,
            languages=list(languages),
            default_language=default_language,
            policy_url=policy_url,
            consent_lifetime_days=consent_lifetime_days,
            receipt_retention_days=receipt_retention_days,
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
        await audit.record(by, "site.create", "site", site.key, site=site,
                           after=_snapshot(site))
    return site


def _snapshot(site: Site) -> dict[str, Any]:
    return {name: copy.deepcopy(getattr(site, name)) for name in _AUDITED}


async def purpose_keys(site: Site) -> list[str]:
    """The site's purposes' keys, in the banner's order."""
    keys = await Purpose.filter(site=site).order_by("order", "id").values_list("key", flat=True)
    return [str(k) for k in keys]


async def list_sites(only: frozenset[int] | None = None) -> list[Site]:
    """Every site, or (``only``: a site-limited account's) those of the ids given."""
    query = Site.all() if only is None else Site.filter(id__in=only)
    return await query.order_by("name", "id")


async def get_site(key: str) -> Site:
    # A key is URL-safe base64: anything else (a NUL from "%00" in a path, which PostgreSQL
    # would refuse to compare) is no site, without asking the database.
    site = await Site.get_or_none(key=key) if _SITE_KEY.fullmatch(key) else None
    if site is None:
        raise SiteNotFound(f"no site with key {key!r}")
    return site


async def update_site(
    site: Site,
    *,
    name: str | None = None,
    languages: Sequence[str] | None = None,
    default_language: str | None = None,
    texts: dict[str, dict[str, str]] | None = None,
    domains: Sequence[str] | None = None,
    policy_url: str | None = None,
    consent_lifetime_days: int | None = None,
    receipt_retention_days: int | None = None,
    cookie_domain: str | None = None,
    options: dict[str, Any] | None = None,
    force: bool = False,
    by: Actor | None = None,
    version: int | None = None,
) -> Site:
    """Edit the draft. Nothing a visitor sees changes until ``publishing.publish``. The
    change and its audit entry (the fields before and after) commit together, and move the
    settings' version (``revisions.settings``): given ``version``, only from that one."""
    async with in_transaction():
        before = _snapshot(site)
        await _apply(site, name=name, languages=languages, default_language=default_language,
                     texts=texts, domains=domains, policy_url=policy_url,
                     consent_lifetime_days=consent_lifetime_days,
                     receipt_retention_days=receipt_retention_days,
                     cookie_domain=cookie_domain, options=options, force=force)
        await site.save()
        after = _snapshot(site)
        changed = [k for k in _AUDITED if before[k] != after[k]]
        if changed:
            entry = await audit.record(
                by, "site.update", "site", site.key, site=site,
                before={k: before[k] for k in changed}, after={k: after[k] for k in changed},
            )
            await revisions.advance(revisions.settings(site), entry, version)
    return site


async def _apply(
    site: Site,
    *,
    name: str | None,
    languages: Sequence[str] | None,
    default_language: str | None,
    texts: dict[str, dict[str, str]] | None,
    domains: Sequence[str] | None,
    policy_url: str | None,
    consent_lifetime_days: int | None,
    receipt_retention_days: int | None,
    cookie_domain: str | None,
    options: dict[str, Any] | None,
    force: bool,
) -> None:
    if name is not None:
        site.name = check_name(name)
    if languages is not None:
        site.languages = check_languages(languages)
    if default_language is not None:
        site.default_language = default_language
    if site.default_language not in site.languages:
        raise InvalidRequest(
            f"the default language {site.default_language!r} must be one of the site's "
            f"languages ({', '.join(site.languages)})", field="default_language"
        )
    if texts is not None:
        merged = copy.deepcopy(site.texts)
        for lang, entries in texts.items():
            if lang not in site.languages:
                raise InvalidRequest(f"{lang!r} is not one of the site's languages",
                                     field="texts")
            for key, text in entries.items():
                if not isinstance(text, str) or len(text) > MAX_TEXT:
                    raise InvalidRequest(f"text {key!r} must be a string of at most {MAX_TEXT}",
                                         field=f"texts.{key}")
            merged.setdefault(lang, {}).update(entries)
        site.texts = merged
    if options is not None:
        try:
            checked = BannerOptions.model_validate({**site.options, **options})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidRequest(f"banner option {where}: {plain_message(first)}",
                                 field="options") from None
        purposes = {p.key for p in await Purpose.filter(site=site)}
        unknown = checked.purpose_keys() - purposes
        if unknown:
            raise InvalidRequest(f"options name unknown purposes: {', '.join(sorted(unknown))}",
                                 field="options")
        site.options = checked.model_dump(mode="json")
    if domains is not None:
        hosts = [normalise_domain(d) for d in domains]
        if not hosts:
            raise InvalidRequest("a site needs at least one domain", field="domains")
        await _refuse_claimed(hosts, site, force)
        site.domains = hosts
    if policy_url is not None:
        site.policy_url = check_url(policy_url, "the policy URL", field="policy_url")
    if consent_lifetime_days is not None:
        if not 1 <= consent_lifetime_days <= 395:
            # Regulators (CNIL, Datatilsynet) point to 6-13 months as the longest reasonable.
            raise InvalidRequest("consent lifetime must be between 1 and 395 days",
                                 field="consent_lifetime_days")
        site.consent_lifetime_days = consent_lifetime_days
    if receipt_retention_days is not None:
        if not 1 <= receipt_retention_days <= MAX_RETENTION_DAYS:
            raise InvalidRequest(
                f"receipt retention must be between 1 and {MAX_RETENTION_DAYS} days",
                field="receipt_retention_days",
            )
        site.receipt_retention_days = receipt_retention_days
    if cookie_domain is not None:
        site.cookie_domain = check_cookie_domain(cookie_domain)


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
        raise InvalidRequest("a purpose key is 1-40 lowercase letters, digits, _ or -",
                             field="key")
    for texts in (name or {}, description or {}):
        if set(texts) - set(site.languages):
            raise InvalidRequest("texts are only for the site's languages")
    purpose = await Purpose.get_or_none(site=site, key=key)
    if purpose is None:
        if not name:
            raise InvalidRequest("a new purpose needs a name", field="name")
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

"""Published configs as served: bytes, ETags and the embed script, computed once per version.

Each process keeps a small cache. The newest version of a site is looked up again at most every
``ttl`` seconds, so a publish made by another process is seen within that time.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import TypeVar

import orjson

from .._utils import sha256_hex
from ..errors import CmpError, NothingPublished, SiteNotFound, Unavailable, VersionNotFound
from ..models import ConfigVersion, Site
from ..schemas import PublishedConfig
from .declaration import declaration_of

__all__ = ["CONFIG_PLACEHOLDER", "ConfigCache", "Published", "SiteInfo", "embed_bundle"]

CONFIG_PLACEHOLDER = b'"__CMP_CONFIG__"'
log = logging.getLogger(__name__)
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")
# What a site key can look like (``secrets.token_urlsafe``); anything else is not looked up.
_KEY = re.compile(r"[A-Za-z0-9_-]{1,32}")


def embed_bundle() -> bytes:
    """The built embed (``embed/`` → ``npm run build``), shipped inside the package."""
    return resources.files("cmp_server").joinpath("static/cmp.js").read_bytes()


@dataclass(frozen=True)
class SiteInfo:
    id: int
    key: str
    domains: tuple[str, ...]
    consent_lifetime_days: int

    def allows_origin(self, origin_host: str) -> bool:
        """A site's domain covers itself and its subdomains."""
        return origin_host in self.domains or origin_host.endswith(self._subdomain_suffixes)

    @cached_property
    def _subdomain_suffixes(self) -> tuple[str, ...]:
        return tuple("." + d for d in self.domains)


@dataclass(frozen=True)
class Published:
    site: SiteInfo
    number: int
    body: bytes
    content_hash: str
    text_hashes: dict[str, str]
    config: PublishedConfig = field(repr=False)
    # language (None: the default) → (language, body); at most one entry per site language.
    _declarations: dict[str | None, tuple[str, bytes]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def etag(self) -> str:
        return f'"{self.content_hash}"'

    @cached_property
    def purposes(self) -> dict[str, bool]:
        """purpose key → required."""
        return {p.key: p.required for p in self.config.purposes}

    @cached_property
    def required(self) -> tuple[str, ...]:
        return tuple(k for k, required in self.purposes.items() if required)

    @cached_property
    def optional(self) -> tuple[str, ...]:
        return tuple(k for k, required in self.purposes.items() if not required)

    def declaration(self, language: str | None) -> tuple[str, bytes]:
        """The cookie declaration's language and JSON body, serialised once per language."""
        lang = language if language in self.config.languages else None
        hit = self._declarations.get(lang)
        if hit is None:
            body = declaration_of(self.config, lang)
            hit = (body["language"], orjson.dumps(body))
            self._declarations[lang] = hit
        return hit

    @cached_property
    def script(self) -> bytes:
        return render_script(embed_bundle(), self.body)

    @cached_property
    def script_gzip(self) -> bytes:
        return gzip.compress(self.script, compresslevel=9, mtime=0)

    @cached_property
    def script_etag(self) -> str:
        return f'"{sha256_hex(self.script)[:32]}"'


def render_script(bundle: bytes, config_json: bytes) -> bytes:
    if bundle.count(CONFIG_PLACEHOLDER) != 1:
        raise RuntimeError("the embed bundle must contain the config placeholder exactly once")
    return bundle.replace(CONFIG_PLACEHOLDER, script_safe_json(config_json))


# JSON allows U+2028/2029 raw, older JavaScript engines do not; and a site owner may paste the
# script into an inline <script>, where a "</script>" (or "<!--") in a text would end it. In
# JSON, these characters only occur inside strings, where the escapes mean the same.
_SCRIPT_UNSAFE = {
    "\u2028".encode(): b"\\u2028",
    "\u2029".encode(): b"\\u2029",
    b"<": b"\\u003c",
    b">": b"\\u003e",
    b"&": b"\\u0026",
}


def script_safe_json(config_json: bytes) -> bytes:
    for raw, escaped in _SCRIPT_UNSAFE.items():
        config_json = config_json.replace(raw, escaped)
    return config_json


def _published(site: Site, version: ConfigVersion) -> Published:
    body = version.canonical_json.encode()
    config = PublishedConfig.model_validate_json(body)
    return Published(
        site=SiteInfo(
            id=site.id,
            key=site.key,
            domains=tuple(site.domains),
            consent_lifetime_days=config.options.consent_lifetime_days,
        ),
        number=version.number,
        body=body,
        content_hash=version.content_hash,
        text_hashes=dict(version.text_hashes),
        config=config,
    )


class ConfigCache:
    """Each site's latest published version (and the answer for keys that are no site) for
    ``ttl`` seconds, and older versions receipts name. Both are bounded, oldest written out
    first: anyone can ask for any number of made-up site keys."""

    def __init__(self, ttl: float, max_sites: int = 10_000, max_versions: int = 4096) -> None:
        self._ttl = ttl
        self._max_sites = max_sites
        self._max_versions = max_versions
        self._latest: OrderedDict[str, tuple[float, Published | CmpError]] = OrderedDict()
        self._versions: OrderedDict[tuple[str, int], Published] = OrderedDict()
        self._loading: dict[str, asyncio.Future[Published]] = {}

    def __len__(self) -> int:
        """How many site keys are cached."""
        return len(self._latest)

    def forget(self, site_key: str) -> None:
        self._latest.pop(site_key, None)

    def fresh(self, site_key: str) -> Published | None:
        """The site's latest version if the cache holds it, looked up less than ``ttl``
        seconds ago; else None (``latest`` then looks, or says why there is none)."""
        hit = self._latest.get(site_key)
        if hit is not None and isinstance(hit[1], Published) and (
            time.monotonic() - hit[0] < self._ttl
        ):
            return hit[1]
        return None

    async def latest(self, site_key: str) -> Published:
        hit = self._latest.get(site_key)
        if hit is not None and time.monotonic() - hit[0] < self._ttl:
            if isinstance(hit[1], CmpError):
                # A fresh exception each time: re-raising one instance would grow its traceback.
                raise type(hit[1])(hit[1].detail)
            return hit[1]
        if not _KEY.fullmatch(site_key):
            raise SiteNotFound(f"no site with key {site_key!r}")
        # One lookup per site at a time: when an entry expires under load, the requests in
        # flight wait for the same query instead of each sending their own.
        loading = self._loading.get(site_key)
        if loading is None:
            loading = asyncio.ensure_future(self._load(site_key))
            self._loading[site_key] = loading
            loading.add_done_callback(lambda _: self._loading.pop(site_key, None))
        try:
            return await asyncio.shield(loading)
        except CmpError:
            raise
        except Exception as exc:  # the driver's own: the database is gone or restarting
            # Stale if error: the version we have is still a version the site published,
            # and a banner that shows beats one that fails while the database comes back.
            if hit is not None and isinstance(hit[1], Published):
                log.warning("serving site %s's cached config: %s", site_key, exc)
                return hit[1]
            raise Unavailable("the configuration cannot be read right now") from exc

    async def _load(self, site_key: str) -> Published:
        now = time.monotonic()
        version = (
            await ConfigVersion.filter(site__key=site_key)
            .select_related("site")
            .order_by("-number")
            .first()
        )
        if version is None:
            error: CmpError
            if await Site.exists(key=site_key):
                error = NothingPublished(f"site {site_key!r} has not published a banner yet")
            else:
                error = SiteNotFound(f"no site with key {site_key!r}")
            _put(self._latest, site_key, (now, error), self._max_sites)
            raise error
        site = version.site
        hit = self._latest.get(site_key)
        previous = hit[1] if hit is not None else None
        if (
            isinstance(previous, Published)
            and previous.number == version.number
            and previous.site.domains == tuple(site.domains)
        ):
            published = previous
        else:
            published = _published(site, version)
        _put(self._latest, site_key, (now, published), self._max_sites)
        return published

    async def version(self, site_key: str, number: int) -> Published:
        latest = await self.latest(site_key)
        if latest.number == number:
            return latest
        key = (site_key, number)
        published = self._versions.get(key)
        if published is not None and published.site.domains == latest.site.domains:
            return published
        try:
            version = await ConfigVersion.get_or_none(site_id=latest.site.id, number=number)
            site = await Site.get(id=latest.site.id) if version is not None else None
        except Exception as exc:  # the driver's own, as in ``latest``
            raise Unavailable("the configuration cannot be read right now") from exc
        if version is None or site is None:
            raise VersionNotFound(f"site {site_key!r} has no config version {number}")
        published = _published(site, version)
        _put(self._versions, key, published, self._max_versions)
        return published


def _put(cache: OrderedDict[_K, _V], key: _K, value: _V, limit: int) -> None:
    """Store as the newest entry, and drop the oldest beyond ``limit``."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)

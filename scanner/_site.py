"""What belongs to the scanned site: registrable domains, URL normalisation, sitemaps.

"Same site" is the browser's notion: same registrable domain (eTLD+1) by the Public Suffix
List, subdomains included. tldextract ships a PSL snapshot; we never let it fetch a fresh
one (scans must not depend on, or leak to, a third host). Hosts under a TLD the PSL does not
know (``shop.test``, intranet names) get Chromium's rule: the unknown TLD acts as the suffix.
"""

from __future__ import annotations

import functools
import gzip
import html
import ipaddress
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

import tldextract

__all__ = [
    "host_of",
    "in_site",
    "is_public_suffix",
    "normalize_url",
    "parse_robots_sitemaps",
    "parse_sitemap",
    "registrable_domain",
]

# suffix_list_urls=() and cache_dir=None: the bundled snapshot only, no network, no disk cache.
_extract = tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
)

# Links to these are downloads, not pages: a browser would not render them as a visit.
_SKIP_EXTENSIONS = re.compile(
    r"\.(?:pdf|zip|gz|tgz|rar|7z|dmg|exe|msi|apk|jpe?g|png|gif|webp|svg|ico|bmp|tiff?|mp[34]"
    r"|m4[av]|mov|avi|webm|ogg|wav|flac|docx?|xlsx?|pptx?|odt|ods|csv|xml|json|txt|rss|atom"
    r"|ics|woff2?|ttf|eot|css|js)$",
    re.IGNORECASE,
)


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


@functools.lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str:
    """The eTLD+1 of a host (the host itself for IP addresses and single labels).

    >>> registrable_domain("www.shop.co.uk"), registrable_domain("a.b.shop.test")
    ('shop.co.uk', 'shop.test')
    """
    host = host.lower().strip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    parts = _extract(host)
    if parts.suffix and parts.domain:
        return f"{parts.domain}.{parts.suffix}"
    labels = host.split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else host


@functools.lru_cache(maxsize=4096)
def is_public_suffix(domain: str) -> bool:
    """Whether a cookie Domain attribute names a public suffix, which Chromium refuses.

    Private registries count (``github.io``), as they do for Chromium's cookies; so does a
    single label (``se``, ``test``): an unknown TLD acts as the suffix, as in
    :func:`registrable_domain`.

    >>> is_public_suffix("co.uk"), is_public_suffix("shop.co.uk"), is_public_suffix("test")
    (True, False, True)
    """
    domain = domain.lower().strip(".")
    try:
        ipaddress.ip_address(domain.strip("[]"))
        return False
    except ValueError:
        pass
    if "." not in domain:
        return True
    parts = _extract(domain)
    return bool(parts.suffix) and not parts.domain


def in_site(host_or_domain: str, site: str) -> bool:
    """Is a host, or a cookie domain like ``.shop.test``, within the registrable domain ``site``?"""
    host = host_or_domain.lower().strip(".")
    return host == site or host.endswith("." + site)


def normalize_url(url: str, base: str | None = None) -> str | None:
    """Absolute http(s) URL without fragment and default port, or None if it is not a page."""
    try:
        absolute = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(absolute)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if _SKIP_EXTENSIONS.search(parts.path):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


_LOC = re.compile(r"<(?:\w+:)?loc>\s*(.*?)\s*</(?:\w+:)?loc>", re.IGNORECASE | re.DOTALL)


def parse_sitemap(body: bytes) -> tuple[list[str], list[str]]:
    """Return (page URLs, nested sitemap URLs) from a sitemap or sitemap index.

    A regular expression rather than an XML parser: real sitemaps are often not well-formed,
    and a hostile one cannot make a regex expand entities.
    """
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)[: 50 * 1024 * 1024]
        except (OSError, EOFError):
            return [], []
    text = body.decode("utf-8", errors="replace")
    locs = [html.unescape(m) for m in _LOC.findall(text)]
    if re.search(r"<(?:\w+:)?sitemapindex\b", text, re.IGNORECASE):
        return [], locs
    return locs, []


def parse_robots_sitemaps(body: bytes) -> list[str]:
    """``Sitemap:`` lines of a robots.txt."""
    text = body.decode("utf-8", errors="replace")
    return [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.strip().lower().startswith("sitemap:") and line.split(":", 1)[1].strip()
    ]

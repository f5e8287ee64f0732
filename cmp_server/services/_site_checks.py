"""What staff type for a site, checked: its name, domains, languages, URLs and cookie domain.
Each check returns the value as stored, or raises ``InvalidRequest`` naming its input
(``field``); ``sites`` re-exports them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from ..errors import InvalidRequest

__all__ = [
    "MAX_NAME",
    "MAX_URL",
    "check_cookie_domain",
    "check_languages",
    "check_name",
    "check_url",
    "normalise_domain",
]

MAX_NAME = 200
MAX_URL = 2000
# A language tag as the banner uses it: "sv", "en", "pt-BR", "sr-Latn".
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")


def normalise_domain(value: str, *, field: str = "domains") -> str:
    """``www.Kursgården.se.`` → ``www.xn--kursgrden-92a.se``; raises on what is no host name,
    a URL included: ``javascript:alert(1)`` must not become the domain ``javascript``."""
    text = value.strip().lower().rstrip(".")
    if "/" in text or ":" in text and not _is_ip(text):
        raise InvalidRequest(
            f"{value!r} is not a domain name: give the host alone, like www.example.se",
            field=field,
        )
    if _is_ip(text):
        return text
    try:
        host = text.encode("idna").decode("ascii")
    except UnicodeError:
        host = ""
    if not host or len(host) > 253 or not _NAME.fullmatch(host):
        raise InvalidRequest(f"not a domain name: {value!r}", field=field)
    return host


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_url(
    value: str | None, what: str, *, path_ok: bool = True, field: str | None = None
) -> str | None:
    """An http(s) URL, or (``path_ok``) a path on the site itself (``/cookies``); empty means
    none.

    A ``javascript:`` or ``data:`` URL is refused here with a message: the banner would drop
    such a link silently, and the site would show a policy link that goes nowhere."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) > MAX_URL:
        raise InvalidRequest(f"{what} may be at most {MAX_URL} characters", field=field)
    if path_ok and text.startswith("/") and not text.startswith("//"):
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(
            f"{what} must be an http:// or https:// address"
            + (" (or a path such as /cookies)" if path_ok else "")
            + f", not {value!r}",
            field=field,
        )
    return text


def check_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise InvalidRequest("a site needs a name", field="name")
    if len(name) > MAX_NAME or _CONTROL.search(name):
        raise InvalidRequest(f"a site name is at most {MAX_NAME} characters, on one line",
                             field="name")
    return name


def check_languages(values: Sequence[str]) -> list[str]:
    """Language tags as given (``sv``, ``pt-BR``), in order, each once; at least one."""
    languages: list[str] = []
    for value in values:
        tag = value.strip()
        if not LANGUAGE.fullmatch(tag):
            raise InvalidRequest(f"{value!r} is not a language tag like sv, en or pt-BR",
                                 field="languages")
        if tag not in languages:
            languages.append(tag)
    if not languages:
        raise InvalidRequest("a site needs at least one language", field="languages")
    return languages


def check_cookie_domain(value: str | None) -> str | None:
    """The domain the consent cookie is set on (``.example.se`` to share it between
    subdomains); empty means the page's own host."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    host = normalise_domain(text.lstrip("."), field="cookie_domain")
    if _is_ip(host):
        raise InvalidRequest("the cookie domain must be a domain name, not an IP address",
                             field="cookie_domain")
    return ("." if text.startswith(".") else "") + host

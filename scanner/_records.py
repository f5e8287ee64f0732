"""What the collect stage observed, as frozen records handed to the inspect stage.

Records hold facts only (a cookie in the jar, a write with its writer, a request); deciding
what they mean (vendor, category, party, violation) is the inspect stage's job.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

from ._models import ItemKind, PassName

__all__ = [
    "CookieRecord",
    "CookieWrite",
    "PageVisit",
    "ParsedCookie",
    "PassCapture",
    "RequestRecord",
    "StorageRecord",
    "initiator_from_stack",
    "parse_cookie_line",
]

StorageKind = Literal["localStorage", "sessionStorage", "indexedDB"]


@dataclass(frozen=True, slots=True)
class CookieRecord:
    """A cookie as found in the browser's jar after a page visit."""

    name: str
    domain: str  # as the jar has it: ".shop.test" for a domain cookie, "www.shop.test" host-only
    path: str
    expires: float  # epoch seconds, -1 for a session cookie
    http_only: bool
    secure: bool
    same_site: str | None
    page_url: str


@dataclass(frozen=True, slots=True)
class CookieWrite:
    """One attempt to set a cookie: a ``Set-Cookie`` header or a script write."""

    name: str
    host: str  # the host whose jar it targets: Domain attribute (no dot) or the request host
    domain_cookie: bool  # True when a Domain attribute was given
    path: str | None
    via: Literal["http", "script"]
    initiator: str | None  # response URL for http, writing script URL for script
    page_url: str
    expires_days: float | None
    deleted: bool  # an expiry in the past: a deletion, not a cookie being set
    accepted: bool  # the browser stored it (script writes are checked right after)
    http_only: bool
    secure: bool
    same_site: str | None


@dataclass(frozen=True, slots=True)
class StorageRecord:
    kind: ItemKind
    name: str
    host: str  # host of the frame's origin
    page_url: str
    initiator: str | None  # writing script, when a hook saw the write


@dataclass(frozen=True, slots=True)
class RequestRecord:
    url: str
    host: str
    path: str
    resource_type: str
    page_url: str


@dataclass(frozen=True, slots=True)
class PageVisit:
    url: str
    status: int | None
    error: str | None
    final_url: str | None
    links: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PassCapture:
    name: PassName
    pages: tuple[PageVisit, ...]
    cookies: tuple[CookieRecord, ...]
    writes: tuple[CookieWrite, ...]
    storage: tuple[StorageRecord, ...]
    requests: tuple[RequestRecord, ...]
    consent: str  # how the banner was handled: "cmp", "autoconsent:<rule>", "text", "not found"


_STACK_URL = re.compile(r"(https?://[^\s()]+?):\d+(?::\d+)?\)?$", re.MULTILINE)


def initiator_from_stack(stack: str) -> str | None:
    """The innermost http(s) script in a V8 stack: the code that performed the write.

    >>> initiator_from_stack("Error\\n    at set (<anonymous>:5:1)\\n    at https://a.test/x.js:1:9")
    'https://a.test/x.js'
    """
    for line in stack.splitlines()[1:]:
        match = _STACK_URL.search(line.strip())
        if match:
            return match.group(1)
    return None


@dataclass(frozen=True, slots=True)
class ParsedCookie:
    """What one ``Set-Cookie`` value or ``document.cookie`` assignment says."""

    name: str
    host: str
    domain_cookie: bool = False
    path: str | None = None
    expires_days: float | None = None
    deleted: bool = False
    http_only: bool = False
    secure: bool = False
    same_site: str | None = None

    def write(
        self,
        via: Literal["http", "script"],
        initiator: str | None,
        page_url: str,
        accepted: bool,
    ) -> CookieWrite:
        return CookieWrite(
            name=self.name, host=self.host, domain_cookie=self.domain_cookie, path=self.path,
            via=via, initiator=initiator, page_url=page_url, expires_days=self.expires_days,
            deleted=self.deleted, accepted=accepted, http_only=self.http_only,
            secure=self.secure, same_site=self.same_site,
        )


def parse_cookie_line(
    line: str, *, request_host: str, now: float | None = None
) -> ParsedCookie | None:
    """Parse a ``Set-Cookie`` value or a ``document.cookie`` assignment.

    None when it sets nothing: an empty line, or a Domain attribute that does not cover the
    host (the browser refuses those; so do we).
    """
    now = time.time() if now is None else now
    first, *attributes = line.split(";")
    if not first.strip():
        return None
    # A pair without "=" is a nameless cookie: the whole pair is the value.
    name = first.partition("=")[0].strip() if "=" in first else ""
    host = request_host.lower()
    domain_cookie = False
    path: str | None = None
    http_only = secure = False
    same_site: str | None = None
    max_age: float | None = None
    expires: float | None = None
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == "domain" and value:
            domain = value.lstrip(".").lower()
            if host != domain and not host.endswith("." + domain):
                return None
            host, domain_cookie = domain, True
        elif key == "path" and value.startswith("/"):
            path = value
        elif key == "max-age":
            try:
                max_age = float(value)
            except ValueError:
                pass
        elif key == "expires":
            try:
                expires = parsedate_to_datetime(value).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                pass
        elif key == "httponly":
            http_only = True
        elif key == "secure":
            secure = True
        elif key == "samesite" and value.lower() in ("strict", "lax", "none"):
            same_site = value.capitalize()
    # Max-Age wins over Expires (RFC 6265 5.3 step 3).
    lifetime = max_age if max_age is not None else (expires - now if expires is not None else None)
    return ParsedCookie(
        name=name,
        host=host,
        domain_cookie=domain_cookie,
        path=path,
        expires_days=None if lifetime is None else round(max(lifetime, 0) / 86400, 3),
        deleted=lifetime is not None and lifetime <= 0,
        http_only=http_only,
        secure=secure,
        same_site=same_site,
    )

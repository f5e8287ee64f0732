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

from ._models import ItemKind, LimitHit, PassName
from ._site import is_public_suffix

__all__ = [
    "NOT_KEPT",
    "CookieRecord",
    "CookieWrite",
    "HeldRecord",
    "PageVisit",
    "ParsedCookie",
    "PassCapture",
    "RequestRecord",
    "StorageRecord",
    "initiator_from_stack",
    "is_embed",
    "parse_cookie_line",
]

StorageKind = Literal["localStorage", "sessionStorage", "indexedDB"]
# The refusal seen only in the jar (a script write left document.cookie as it was), not in
# the write itself: the snapshot after the visit can still show the cookie (a path that is
# not the page's hides it from document.cookie), and then the jar wins.
NOT_KEPT = "the browser did not keep it"


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
    # Why the browser did not store it (a public-suffix domain, ...); None: stored, as far as
    # the write alone tells. Script writes are checked against the jar right after.
    refused: str | None
    http_only: bool
    secure: bool
    same_site: str | None

    @property
    def accepted(self) -> bool:
        return self.refused is None


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
class HeldRecord:
    """One entry of our banner's ``window.cmp.blocked()`` on a page, checked (``_held.py``)."""

    page_url: str
    url: str
    type: str
    purposes: tuple[str, ...]
    rule_host: str
    rule_path: str
    state: str


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
    held: tuple[HeldRecord, ...] = ()  # what our own banner held back, page by page
    limits: tuple[LimitHit, ...] = ()  # the limits the pass reached (``_limits.PassBudget``)
    webrtc: tuple[str, ...] = ()  # WebRTC connections refused (public-only scans)


_STACK_URL = re.compile(r"(https?://[^\s()]+?):\d+(?::\d+)?\)?$", re.MULTILINE)
# Our own embed, as the install snippet loads it (DESIGN.md, "Public API").
_EMBED = re.compile(r"^https?://[^/]+/v1/sites/[^/?#]+/cmp\.js(?:[?#]|$)")


def is_embed(url: str) -> bool:
    """Is ``url`` our own embed's ``cmp.js``?"""
    return bool(_EMBED.match(url))


def initiator_from_stack(
    stack: str, script: str | None = None, page: str | None = None
) -> str | None:
    """The innermost http(s) script in a V8 stack: the code that performed the write.

    Our embed runs the scripts it releases (hand-marked ``type="text/plain"`` ones, and held
    ones) inside its own call: a released inline script has no URL of its own, so the stack's
    innermost URL is ``cmp.js``. Then the script running at the write (``script``:
    ``document.currentScript``'s ``src``, ``""`` for an inline one) is the writer, an inline
    one the ``page``'s; else a later frame that is not the embed's. Only what the embed writes
    itself (its consent cookie) is credited to it.

    >>> initiator_from_stack("Error\\n    at set (<anonymous>:5:1)\\n    at https://a.test/x.js:1:9")
    'https://a.test/x.js'
    >>> embed = "https://c.test/v1/sites/k/cmp.js"
    >>> initiator_from_stack(f"Error\\n    at <anonymous>:1:2\\n    at r ({embed}:1:9)", "",
    ...                      "https://a.test/")
    'https://a.test/'
    """
    urls = [m.group(1) for line in stack.splitlines()[1:]
            if (m := _STACK_URL.search(line.strip()))]
    if not urls or not is_embed(urls[0]):
        return urls[0] if urls else None
    if script is not None and not is_embed(script):
        return script or page or urls[0]
    return next((u for u in urls[1:] if not is_embed(u)), urls[0])


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
    refused: str | None = None  # the rule of RFC 6265bis / Chromium it breaks, if any
    pair: str = ""  # "name=value" as document.cookie would list it

    def write(
        self,
        via: Literal["http", "script"],
        initiator: str | None,
        page_url: str,
        refused: str | None = None,
    ) -> CookieWrite:
        return CookieWrite(
            name=self.name, host=self.host, domain_cookie=self.domain_cookie, path=self.path,
            via=via, initiator=initiator, page_url=page_url, expires_days=self.expires_days,
            deleted=self.deleted, refused=self.refused or refused, http_only=self.http_only,
            secure=self.secure, same_site=self.same_site,
        )


def parse_cookie_line(
    line: str, *, request_host: str, secure_origin: bool = True, now: float | None = None
) -> ParsedCookie | None:
    """Parse a ``Set-Cookie`` value or a ``document.cookie`` assignment.

    None when it is empty. ``refused`` names the rule when the browser would not store it:
    a Domain attribute that is a public suffix (analytics tags try ``.co.uk`` first on
    purpose) or does not cover the host, ``SameSite=None`` without ``Secure``, ``Secure``
    from an insecure page, or a broken ``__Host-`` / ``__Secure-`` prefix.

    >>> parse_cookie_line("_ga=1; domain=.co.uk", request_host="www.shop.co.uk").refused
    'domain .co.uk is a public suffix'
    """
    now = time.time() if now is None else now
    first, *attributes = line.split(";")
    if not first.strip():
        return None
    # A pair without "=" is a nameless cookie: the whole pair is the value.
    name = first.partition("=")[0].strip() if "=" in first else ""
    request_host = host = request_host.lower()
    refused: str | None = None
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
            if request_host != domain and not request_host.endswith("." + domain):
                refused = f"domain .{domain} does not cover {request_host}"
            elif is_public_suffix(domain) and domain != request_host:
                refused = f"domain .{domain} is a public suffix"
            # A public suffix that is the host itself gives a host-only cookie.
            host, domain_cookie = domain, domain != request_host or not is_public_suffix(domain)
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
    if refused is None:
        refused = _breaks(name, secure, secure_origin, same_site, domain_cookie, path)
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
        refused=refused,
        pair=first.strip(),
    )


def _breaks(
    name: str, secure: bool, secure_origin: bool, same_site: str | None, domain: bool,
    path: str | None,
) -> str | None:
    # https://datatracker.ietf.org/doc/html/draft-ietf-httpbis-rfc6265bis#section-5.7
    if secure and not secure_origin:
        return "Secure from an insecure page"
    if same_site == "None" and not secure:
        return "SameSite=None without Secure"
    if name.lower().startswith("__host-") and (not secure or domain or path != "/"):
        return "__Host- prefix without Secure, Path=/ and no Domain"
    if name.lower().startswith("__secure-") and not secure:
        return "__Secure- prefix without Secure"
    return None

"""Refuse scan targets that are not on the public internet (for server-requested scans).

A scan is a server-side browser visit, so a user who may request scans could otherwise make
the server read its own admin port or a cloud metadata endpoint (SSRF). The server calls
``check_public_target`` before queueing a scan; the CLI does not (an operator scanning a
staging host on purpose). During such a scan, ``PublicOnly`` aborts every request the browser
makes to a host that is not public: a public page may redirect to, link to or load from the
scanning server's own network.

Both check the addresses a host resolves to *now*; a DNS answer that changes between the
check and the browser's own lookup is outside their reach.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Route

from .errors import InvalidTargetError, PrivateTargetError, UnresolvableTargetError

__all__ = ["PublicOnly", "check_public_target", "is_public_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger(__name__)


def is_public_address(address: IPAddress) -> bool:
    """True for a global unicast address.

    >>> is_public_address(ipaddress.ip_address("93.184.216.34"))
    True
    >>> is_public_address(ipaddress.ip_address("::ffff:127.0.0.1"))
    False
    """
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:a.b.c.d and 64:ff9b::/96 (NAT64) reach an IPv4 host: judge that host.
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address in ipaddress.IPv6Network("64:ff9b::/96"):
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            return is_public_address(address.sixtofour)
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
        or not address.is_global
    )


def check_public_target(url: str, allow_private: bool = False) -> list[str]:
    """Resolve the URL's host and raise unless every address is public.

    Returns the resolved addresses. ``allow_private=True`` (an operator's setting) skips the
    address check but still requires a valid http(s) URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidTargetError(f"not an http(s) URL with a host: {url!r}")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidTargetError(f"invalid port in {url!r}") from exc
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise UnresolvableTargetError(f"cannot resolve {host!r}: {exc}") from exc
        addresses = sorted({str(info[4][0]) for info in infos})
    if not allow_private:
        for text in addresses:
            # Strip an IPv6 zone ("fe80::1%eth0"): a zoned address is link-local anyway.
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if not is_public_address(address):
                raise PrivateTargetError(host, text)
    return addresses


class PublicOnly:
    """Aborts each request of a browser context to a host that resolves to a non-public
    address, or does not resolve. One verdict per host and port for the context's life.

    ``public_networks`` are treated as public all the same (an operator's staging network,
    or a test's loopback site). ``blocked`` lists the URLs refused, in order.
    """

    def __init__(self, public_networks: Iterable[IPNetwork] = ()) -> None:
        self._public_networks = tuple(public_networks)
        self._verdicts: dict[tuple[str, int], asyncio.Future[bool]] = {}
        self.blocked: list[str] = []

    async def install(self, context: BrowserContext) -> None:
        await context.route("**/*", self._route)

    async def _route(self, route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            await route.fallback()
            return
        try:
            port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
        except ValueError:
            port = 0
        key = (parts.hostname, port)
        verdict = self._verdicts.get(key)
        if verdict is None:  # the first request to a host looks it up; the rest wait for it
            verdict = asyncio.ensure_future(self._is_public(*key))
            self._verdicts[key] = verdict
        if await asyncio.shield(verdict):
            await route.fallback()
            return
        self.blocked.append(url)
        log.info("scan: refused %s (not a public address)", url)
        await route.abort("addressunreachable")

    async def _is_public(self, host: str, port: int) -> bool:
        try:
            addresses = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, proto=socket.IPPROTO_TCP
                )
            except (OSError, UnicodeError):
                return False
            addresses = [ipaddress.ip_address(str(i[4][0]).split("%", 1)[0]) for i in infos]
        return bool(addresses) and all(
            is_public_address(a) or any(a in n for n in self._public_networks)
            for a in addresses
        )

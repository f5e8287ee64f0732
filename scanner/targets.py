"""Refuse scan targets that are not on the public internet (for server-requested scans).

A scan is a server-side browser visit, so a user who may request scans could otherwise make
the server read its own admin port or a cloud metadata endpoint (SSRF). The server calls
``check_public_target`` before queueing a scan; the CLI does not (an operator scanning a
staging host on purpose). During such a scan the browser goes through ``_proxy``, which
applies ``is_public_address`` to every connection.

``check_public_target`` checks the addresses the host resolves to *now*; the proxy connects
to the very address it checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from .errors import InvalidTargetError, PrivateTargetError, UnresolvableTargetError

__all__ = [
    "IPNetwork",
    "check_public_target",
    "first_not_public",
    "is_public_address",
    "literal_address",
    "resolve",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    if (literal := literal_address(host)) is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            raise UnresolvableTargetError(f"cannot resolve {host!r}: {exc}") from exc
        addresses = sorted({str(info[4][0]) for info in infos})
    if not allow_private and (refused := first_not_public(addresses)) is not None:
        raise PrivateTargetError(host, refused)
    return addresses


def first_not_public(
    addresses: Iterable[str], also_public: Iterable[IPNetwork] = ()
) -> str | None:
    """The first of ``addresses`` that is neither public nor in ``also_public``; None if all
    are. An IPv6 zone ("fe80::1%eth0") is not part of the address (a zoned one is link-local)."""
    networks = tuple(also_public)
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not is_public_address(address) and not any(address in n for n in networks):
            return text
    return None


def literal_address(host: str) -> str | None:
    """The host as an address, if it is one (brackets of an IPv6 URL host allowed)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to now, each once in the resolver's order (a literal
    address is itself). Raises ``UnresolvableTargetError`` for a name without any."""
    if (literal := literal_address(host)) is not None:
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError) as exc:
        raise UnresolvableTargetError(f"cannot resolve {host!r}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnresolvableTargetError(f"{host!r} has no addresses")
    return addresses

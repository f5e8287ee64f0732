from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson


def canonical_json(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """Bytes that are the same for equal values: sorted keys, no whitespace. ``default``
    writes what orjson cannot (as in ``orjson.dumps``)."""
    return orjson.dumps(value, default=default, option=orjson.OPT_SORT_KEYS)


def sha256_hex(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def rfc3339(moment: datetime) -> str:
    """The one way times are written, in the API, exports and configs: RFC 3339 in UTC with
    ``Z`` (``2026-12-02T10:22:35.123456Z``), as orjson writes a datetime with OPT_UTC_Z."""
    return orjson.dumps(moment.astimezone(UTC), option=orjson.OPT_UTC_Z)[1:-1].decode()


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_site_key() -> str:
    # 96 random bits, URL safe; public (it is in every visitor's page), but not guessable.
    # Drawn again until it starts with a letter or digit: a key starting with '-' reads as an
    # option to `cmp-server … --site KEY` and as a formula to a spreadsheet opening an export.
    while True:
        key = secrets.token_urlsafe(12)
        if key[0].isalnum():
            return key


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def forwarded_client(
    peer: str | None, forwarded_for: str, trusted: Iterable[Network]
) -> str | None:
    """The peer's address, or the first untrusted hop in ``X-Forwarded-For`` when the peer is
    a trusted proxy (walking from the right, as each proxy appends the address it saw)."""
    networks = tuple(trusted)
    if not peer or not networks or not _in(peer, networks):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, networks):
            return hop
    return peer


def _in(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def plural(n: int, one: str, many: str | None = None) -> str:
    """``n`` and the word for that many, thousands grouped: ``plural(1, "item")`` is
    ``1 item``, ``plural(2_000, "entry", "entries")`` is ``2,000 entries``."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"

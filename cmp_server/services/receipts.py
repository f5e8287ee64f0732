"""Consent receipts: checking a choice against the version it was made on, and reading them back.

Writing goes through ``writer.ReceiptWriter`` (group commit).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, timedelta
from uuid import UUID

from .._utils import canonical_json, sha256_hex
from ..errors import ConsentNotFound, InvalidConsent
from ..models import ConsentReceipt
from ..schemas import ReceiptIn
from .configs import Published
from .receipt_store import HASHED, NewReceipt

__all__ = [
    "ReceiptDraft",
    "check_choices",
    "content_hash",
    "draft_receipt",
    "receipt_history",
    "record_hash",
    "truncate_ip",
]

_MAX_USER_AGENT = 512


_V4_MAPPED = b"\0" * 10 + b"\xff\xff"


def truncate_ip(address: str | None) -> str | None:
    """Keep the network, drop the host: IPv4 /24, IPv6 /48. Never store the full address.
    (The C parser, not ``ipaddress``: this runs for every receipt, and ``ipaddress`` made it
    a tenth of a receipt's cost.)"""
    if not address:
        return None
    try:
        packed = socket.inet_pton(socket.AF_INET, address)
    except OSError:
        try:  # a link-local address may carry its zone ("fe80::1%eth0"): not part of it
            packed = socket.inet_pton(socket.AF_INET6, address.split("%", 1)[0])
        except OSError:
            return None
        if packed[:12] != _V4_MAPPED:
            return socket.inet_ntop(socket.AF_INET6, packed[:6] + b"\0" * 10)
        packed = packed[12:]
    return socket.inet_ntop(socket.AF_INET, packed[:3] + b"\0")


def check_choices(receipt: ReceiptIn, published: Published) -> None:
    """The choices must cover exactly the version's purposes and respect what is required."""
    purposes = published.purposes
    choices = receipt.choices
    if choices.keys() != purposes.keys():
        parts = []
        if missing := sorted(set(purposes) - set(choices)):
            parts.append(f"missing {', '.join(missing)}")
        if extra := sorted(set(choices) - set(purposes)):
            parts.append(f"unknown {', '.join(extra)}")
        raise InvalidConsent(
            f"choices must cover exactly the purposes of version {published.number}: "
            + "; ".join(parts)
        )
    if refused_required := sorted(k for k in published.required if not choices[k]):
        raise InvalidConsent(f"required purposes cannot be refused: {', '.join(refused_required)}")
    optional = published.optional
    if receipt.method == "accept_all" and not all(choices[k] for k in optional):
        raise InvalidConsent("method accept_all needs every purpose granted")
    if receipt.method == "reject_all" and any(choices[k] for k in optional):
        raise InvalidConsent("method reject_all needs every optional purpose refused")
    if receipt.method == "gpc":
        if any(receipt.choices.get(k) for k in published.config.options.gpc.purposes):
            raise InvalidConsent("method gpc needs the purposes the GPC signal covers refused")
    if receipt.language not in published.config.languages:
        raise InvalidConsent(
            f"language {receipt.language!r} is not one of {published.config.languages}"
        )


@dataclass(frozen=True)
class ReceiptDraft:
    """A checked receipt waiting for the writer; ``recorded_at`` is set when it is committed."""

    receipt: ReceiptIn
    site_id: int
    site_key: str
    texts_hash: str
    lifetime: timedelta
    user_agent: str
    ip_truncated: str | None
    content_hash: str


def record_hash(row: ConsentReceipt | NewReceipt, site_key: str, previous_hash: str) -> str:
    """The hash that chains a visitor's receipts: over the previous receipt's hash and the
    stored fields of this one that ``NewReceipt`` marks hashed. Recomputing it later shows
    whether a stored receipt was altered.

    The record is the canonical JSON of the fields with ids as strings and times in UTC as
    ISO 8601, which is how orjson writes ``UUID`` and ``datetime`` values itself (a test holds
    this to the spelled-out form): no string per field per receipt on the way."""
    record = {name: getattr(row, name) for name in HASHED}
    record["site"] = site_key  # the site by its key, not by the serial id (see NewReceipt)
    record["recorded_at"] = row.recorded_at.astimezone(UTC)
    record["expires_at"] = row.expires_at.astimezone(UTC)
    return sha256_hex(previous_hash.encode(), canonical_json(record, default=_uuid_str))


def _uuid_str(value: object) -> str:
    # A UUID subclass orjson does not write itself: asyncpg's, on rows read back.
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} in a receipt record")


def content_hash(receipt: ReceiptIn) -> str:
    """The hash of what the client sent, as validated: the same receipt sent again, as JSON
    or text, in any key order, has the same hash. Equal to hashing
    ``canonical_json(receipt.model_dump(mode="json"))`` (a test holds the two together), without
    the cost of a dump per receipt."""
    return sha256_hex(canonical_json(receipt.__dict__))  # the fields, as validated


def draft_receipt(
    receipt: ReceiptIn, published: Published, *, user_agent: str, client_ip: str | None
) -> ReceiptDraft:
    check_choices(receipt, published)
    return ReceiptDraft(
        receipt=receipt,
        site_id=published.site.id,
        site_key=published.site.key,
        texts_hash=published.text_hashes[receipt.language],
        lifetime=timedelta(days=published.site.consent_lifetime_days),
        user_agent=user_agent[:_MAX_USER_AGENT],
        ip_truncated=truncate_ip(client_ip),
        content_hash=content_hash(receipt),
    )


async def receipt_history(site_id: int, consent_id: UUID) -> list[ConsentReceipt]:
    receipts = await ConsentReceipt.filter(site_id=site_id, consent_id=consent_id).order_by("id")
    if not receipts:
        raise ConsentNotFound("no receipts for this consent id")
    return list(receipts)

"""A receipt's record hash and a config version's texts hash, recomputed with the standard
library exactly as the server computes them (``cmp_server.services.receipts.record_hash``,
``publishing.texts_for_language``; a test holds the two to each other).

Both are SHA-256 over canonical JSON: keys sorted, no whitespace, UTF-8 unescaped, ids as
strings, times in UTC as ISO 8601 with ``+00:00`` (``2026-12-05T10:22:35.123456+00:00``,
microseconds left out when 0).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["HASHED", "canonical_json", "record_hash", "texts_hash"]

# The stored fields of a receipt its record hash covers (besides "site", the site's key), as of
# bundle format cmp-evidence/1.
HASHED = (
    "receipt_id", "consent_id", "config_version", "texts_hash", "language", "choices", "method",
    "layer", "page_url", "recorded_at", "expires_at", "user_agent", "ip_truncated",
    "previous_receipt_id",
)
_TIMES = ("recorded_at", "expires_at")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def _iso(time: str) -> str:
    # Exports write RFC 3339 with Z; the hash has the offset spelled out.
    return time[:-1] + "+00:00" if time.endswith("Z") else time


def record_hash(receipt: dict[str, Any], previous_hash: str) -> str:
    """``receipt``: a receipt as a bundle holds it (every ``HASHED`` field and ``site``)."""
    record = {name: receipt[name] for name in HASHED}
    for name in _TIMES:
        record[name] = _iso(str(record[name]))
    record["site"] = receipt["site"]
    return hashlib.sha256(previous_hash.encode() + canonical_json(record)).hexdigest()


def texts_hash(texts: Any) -> str:
    """The hash of exactly the words a visitor was shown in one language."""
    return hashlib.sha256(canonical_json(texts)).hexdigest()

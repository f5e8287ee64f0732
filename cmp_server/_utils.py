from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
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


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_site_key() -> str:
    # 96 random bits, URL safe; public (it is in every visitor's page), but not guessable.
    return secrets.token_urlsafe(12)

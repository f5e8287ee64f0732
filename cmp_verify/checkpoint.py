"""Signed checkpoints and signing keys: their exact bytes, written and read back, and the
Ed25519 signature checks (docs/contracts.md, "Checkpoints").

A checkpoint's body is seven lines of UTF-8 text, each ending in a line feed::

    cmp-checkpoint/1
    site <site key>
    size <tree size>
    root <root hash, 64 lowercase hex digits>
    time <RFC 3339 UTC, Z>
    key <key id>
    previous <hash of the previous checkpoint's body, or - for the site's first>

The signature is Ed25519 over exactly those bytes; a checkpoint's hash is SHA-256 of its body.
A key's id is the first 16 hex digits of SHA-256 of its 32 raw public-key bytes, its
fingerprint all 64. A key after the first is introduced by the key before it, which signs the
new key's statement (``key_statement``), so a key slipped in beside them is told apart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "FORMAT",
    "CheckpointBody",
    "FormatError",
    "body_hash",
    "fingerprint",
    "key_id",
    "key_statement",
    "parse_body",
    "verify_signature",
]

FORMAT = "cmp-checkpoint/1"
KEY_FORMAT = "cmp-key/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


class FormatError(ValueError):
    """Bytes that are not a checkpoint body of this format."""


@dataclass(frozen=True)
class CheckpointBody:
    site: str
    size: int
    root: str  # hex
    time: str  # RFC 3339, as written
    key_id: str
    previous: str  # hex, "" for a site's first checkpoint

    def text(self) -> str:
        return (
            f"{FORMAT}\nsite {self.site}\nsize {self.size}\nroot {self.root}\n"
            f"time {self.time}\nkey {self.key_id}\nprevious {self.previous or '-'}\n"
        )

    def encode(self) -> bytes:
        return self.text().encode()


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def parse_body(body: bytes) -> CheckpointBody:
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise FormatError("not UTF-8") from None
    lines = text.split("\n")
    names = ("site", "size", "root", "time", "key", "previous")
    if len(lines) != 8 or lines[0] != FORMAT or lines[7] != "":
        raise FormatError(f"not {len(names) + 1} lines starting {FORMAT!r}")
    values = {}
    for name, line in zip(names, lines[1:7], strict=True):
        prefix = f"{name} "
        if not line.startswith(prefix) or len(line) == len(prefix):
            raise FormatError(f"line {name!r} missing")
        values[name] = line[len(prefix):]
    size = values["size"]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise FormatError("size is not a number")
    previous = "" if values["previous"] == "-" else values["previous"]
    if not _HEX64.fullmatch(values["root"]) or (previous and not _HEX64.fullmatch(previous)):
        raise FormatError("a hash is not 64 lowercase hex digits")
    if not _TIME.fullmatch(values["time"]):
        raise FormatError("time is not RFC 3339 in UTC")
    parsed = CheckpointBody(values["site"], int(size), values["root"], values["time"],
                            values["key"], previous)
    if parsed.encode() != body:
        raise FormatError("not written the one way this format is written")
    return parsed


def fingerprint(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()


def key_id(public_key: bytes) -> str:
    return fingerprint(public_key)[:16]


def key_statement(public_key: bytes, created: str) -> bytes:
    """What the key before signs to introduce a new key (``created``: RFC 3339)."""
    encoded = base64.b64encode(public_key).decode()
    return (f"{KEY_FORMAT}\nkey {key_id(public_key)}\npublic {encoded}\n"
            f"created {created}\n").encode()


def decode_b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError("not base64") from None


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True

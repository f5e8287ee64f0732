"""Checkpoint signing keys (issue 21): Ed25519, the private half in a file only.

The private key lives in one file (``Settings.signing_key_path``: ``signing-key.pem`` in the
data directory, or ``CMP_SIGNING_KEY_FILE``), PKCS #8 PEM, mode 0600; it never goes into the
database or an export. The database keeps every key's public half (``SigningKey``), current
and retired, so that what a retired key signed keeps verifying. A key after the first is
introduced by the one before it: the old key signs the new key's statement
(``cmp_verify.checkpoint.key_statement``), and the verifier follows that chain.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tortoise.transactions import in_transaction

from cmp_verify.checkpoint import fingerprint, key_id, key_statement

from .._utils import rfc3339, utcnow
from ..errors import SigningKeyProblem
from ..models import SigningKey

__all__ = ["KeyView", "Signer", "create_key", "list_keys", "load_signer", "rotate_key"]


@dataclass(frozen=True)
class KeyView:
    key_id: str
    public_key: str  # base64 of the 32 raw bytes
    fingerprint: str
    created_at: datetime
    retired_at: datetime | None
    endorsed_by: str
    endorsement: str

    @classmethod
    def of(cls, row: SigningKey) -> KeyView:
        raw = base64.b64decode(row.public_key)
        return cls(row.key_id, row.public_key, fingerprint(raw), row.created_at,
                   row.retired_at, row.endorsed_by, row.endorsement)


class Signer:
    """The current key, loaded from its file."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def _how_to_make_one(path: Path) -> str:
    return (f"no checkpoint signing key at {path}: create one with `cmp-server keys create`"
            " (or set CMP_SIGNING_KEY_FILE to the key's file)")


def _read(path: Path) -> Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyProblem(_how_to_make_one(path)) from None
    except OSError as exc:
        raise SigningKeyProblem(f"cannot read the signing key {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise SigningKeyProblem(
            f"the signing key {path} may be read by others (mode {mode & 0o777:o}): "
            f"`chmod 600 {path}`"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SigningKeyProblem(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyProblem(f"{path} is not an Ed25519 key")
    return key


def _write(path: Path, key: Ed25519PrivateKey, *, replace: bool) -> None:
    """Write the key with mode 0600 from the start (never readable by others, not for a
    moment); atomically over the old file when ``replace``."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(path.name + ".new") if replace else path
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise SigningKeyProblem(
            f"{target} exists already: `cmp-server keys rotate` replaces the key" if not replace
            else f"{target} is left from a rotation that did not finish: remove it first"
        ) from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    if replace:
        os.replace(target, path)


async def list_keys() -> list[KeyView]:
    return [KeyView.of(row) for row in await SigningKey.all().order_by("created_at")]


async def create_key(path: Path) -> KeyView:
    """The first key. Refused when a current key is registered: rotate it instead."""
    current = await SigningKey.filter(retired_at=None).first()
    if current is not None:
        raise SigningKeyProblem(
            f"key {current.key_id} is the current signing key: `cmp-server keys rotate`"
            " replaces it"
        )
    key = Ed25519PrivateKey.generate()
    _write(path, key, replace=False)
    signer = Signer(key)
    row = await SigningKey.create(
        key_id=signer.key_id, public_key=base64.b64encode(signer.public_key).decode(),
        created_at=utcnow(),
    )
    return KeyView.of(row)


async def rotate_key(path: Path) -> KeyView:
    """A new current key, introduced by the old one, which is retired: what it signed keeps
    verifying by its public half. The old private key is overwritten."""
    old = await load_signer(path)
    key = Ed25519PrivateKey.generate()
    new = Signer(key)
    now = utcnow()
    statement = key_statement(new.public_key, rfc3339(now))
    # The new file first (beside the old), then the database, then the file takes the old
    # one's place: a rotation that stops half way leaves the old key working.
    _write(path.with_name(path.name + ".next"), key, replace=False)
    staged = path.with_name(path.name + ".next")
    try:
        async with in_transaction():
            await SigningKey.filter(key_id=old.key_id).update(retired_at=now)
            row = await SigningKey.create(
                key_id=new.key_id, public_key=base64.b64encode(new.public_key).decode(),
                created_at=now, endorsed_by=old.key_id,
                endorsement=base64.b64encode(old.sign(statement)).decode(),
            )
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    os.replace(staged, path)
    return KeyView.of(row)


async def load_signer(path: Path) -> Signer:
    """The current key from its file; a clear ``SigningKeyProblem`` when there is none, or
    the file holds a key that is not the current one."""
    signer = Signer(_read(path))
    row = await SigningKey.filter(key_id=signer.key_id).first()
    if row is None:
        raise SigningKeyProblem(
            f"the key in {path} ({signer.key_id}) is not one of this server's signing keys"
        )
    if row.retired_at is not None:
        raise SigningKeyProblem(
            f"the key in {path} ({signer.key_id}) was retired on {rfc3339(row.retired_at)}:"
            " use the current key's file"
        )
    return signer

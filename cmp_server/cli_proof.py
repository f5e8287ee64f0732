"""``cmp-server keys`` and ``checkpoint``: the signing keys of the receipts' checkpoints and a
checkpoint taken on demand (issue 21), through the same services the server runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["checkpoint", "keys"]


def _cli() -> Any:
    # Imported when a command runs: cli.py registers these commands and holds the helpers.
    from . import cli

    return cli


@click.group()
def keys() -> None:
    """Checkpoint signing keys (Ed25519): the private key stays in its file (CMP_SIGNING_KEY_FILE,
    default signing-key.pem in the data directory); the public keys are at /v1/keys."""


def _show_key(key: Any) -> str:
    from ._utils import rfc3339

    state = f"retired {rfc3339(key.retired_at)}" if key.retired_at else "current"
    return (f"{key.key_id}  {state:<38} created {rfc3339(key.created_at)}\n"
            f"    fingerprint SHA-256:{key.fingerprint}")


def _key_command(action: Callable[[Path], Awaitable[Any]], done: str) -> None:
    from .errors import CmpError

    settings = _cli()._settings()
    try:
        key = _cli()._with_db(settings, lambda: action(settings.signing_key_path))
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"{done} {settings.signing_key_path} (mode 600)")
    click.echo(_show_key(key))


@keys.command("create")
def keys_create() -> None:
    """Create the first signing key."""
    from .services.signing import create_key

    _key_command(create_key, "signing key written to")


@keys.command("rotate")
def keys_rotate() -> None:
    """Replace the current key with a new one it signs for; the old one is retired and keeps
    verifying what it signed."""
    from .services.signing import rotate_key

    _key_command(rotate_key, "new signing key written to")


@keys.command("list")
def keys_list() -> None:
    """Every signing key, current and retired, with its fingerprint."""
    from .services.signing import list_keys

    found = _cli()._with_db(_cli()._settings(), list_keys)
    if not found:
        click.echo("no signing keys: `cmp-server keys create` makes one")
    for key in found:
        click.echo(_show_key(key))


@click.command()
def checkpoint() -> None:
    """Append the receipts stored since the last checkpoint to their sites' trees and sign a
    checkpoint of each (the server does this every CMP_CHECKPOINT_INTERVAL_SECONDS)."""
    from .errors import CmpError
    from .services.checkpoints import take_checkpoints
    from .services.signing import load_signer
    from .services.witness import publish

    settings = _cli()._settings()

    async def work() -> Any:
        made = await take_checkpoints(await load_signer(settings.signing_key_path))
        await publish(made, settings.witness_urls, settings.checkpoint_file)
        return made

    try:
        made = _cli()._with_db(settings, work)
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    if not made:
        click.echo("no new receipts since the last checkpoint (or another process is signing)")
    for view in made:
        click.echo(f"{view.site}: tree size {view.tree_size}, root {view.root_hash},"
                   f" signed by {view.key_id} at {view.time}")

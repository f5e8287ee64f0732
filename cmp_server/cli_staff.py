"""``cmp-server create-admin`` and ``reset-two-factor``: staff accounts from the shell, for the
first owner and for an owner locked out of two-factor sign-in, through the admin's services."""

from __future__ import annotations

import sys
from typing import Any

import click

__all__ = ["create_admin", "reset_two_factor"]


def _cli() -> Any:
    # Imported when a command runs: cli.py registers these commands and holds the helpers.
    from . import cli

    return cli


@click.command("create-admin")
@click.option("--email", required=True, help="The staff member's email: their sign-in name.")
@click.option(
    "--role", type=click.Choice(["owner", "privacy", "viewer"]), default="owner",
    show_default=True,
)
@click.option("--name", default="", help="Their name, as other staff see it.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
def create_admin(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create a staff account for the admin view (asks for the password)."""
    from .errors import CmpError
    from .services import staff

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = _cli()._settings()
    try:
        account = _cli()._with_db(
            settings, lambda: staff.create_staff(email, password, role, name=name)
        )
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"{account.email} can sign in at {settings.public_base_url}/admin/ as {role}")


@click.command("reset-two-factor")
@click.option("--email", required=True, help="The staff member's email.")
def reset_two_factor(email: str) -> None:
    """Turn a staff account's two-factor sign-in off (its phone and recovery codes are lost,
    and no other owner can reset it in the admin); audited as the system."""
    from .errors import CmpError
    from .services import staff, two_factor

    async def reset() -> str:
        row = await staff.account_by_email(email)
        await two_factor.reset(row.id, by=None)
        return row.email

    try:
        address = _cli()._with_db(_cli()._settings(), reset)
    except CmpError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"{address} signs in with the password alone until it sets up two-factor "
               "sign-in again")

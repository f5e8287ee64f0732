"""Settings of the whole installation that owners change in the admin, not in the environment
(the environment holds what the operator decides at deployment: database, secret, proxies).
One row per setting; a setting never written reads as its default. Each change is audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise.transactions import in_transaction

from ..models import InstallationSetting
from . import audit

if TYPE_CHECKING:
    from .staff import Actor

__all__ = ["OWNER_TWO_FACTOR", "owner_two_factor", "set_owner_two_factor"]

OWNER_TWO_FACTOR = "owner_two_factor"  # owners must sign in with a second factor


async def owner_two_factor() -> bool:
    """Whether owners must use two-factor sign-in (off until an owner turns it on)."""
    row = await InstallationSetting.get_or_none(key=OWNER_TWO_FACTOR)
    return row is not None and row.value is True


async def set_owner_two_factor(required: bool, *, by: Actor | None) -> None:
    async with in_transaction():
        row = await InstallationSetting.select_for_update().get_or_none(key=OWNER_TWO_FACTOR)
        before = row is not None and row.value is True
        if before == required:
            return
        if row is None:
            await InstallationSetting.create(key=OWNER_TWO_FACTOR, value=required)
        else:
            row.value = required
            await row.save(update_fields=["value", "updated_at"])
        await audit.record(by, "installation.owner_two_factor", "installation", OWNER_TWO_FACTOR,
                           before={"required": before}, after={"required": required})

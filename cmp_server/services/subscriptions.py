"""Which of a site's events reach a staff member by mail (at once, or in the daily digest),
and the language their mail is written in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from tortoise.transactions import in_transaction

from ..errors import InvalidRequest
from ..models import MailPreference, MailSubscription, Site, Staff
from . import audit
from .events import EVENT_LABELS
from .mail_texts import LANGUAGES

if TYPE_CHECKING:
    from .staff import Actor

__all__ = ["MODES", "Mode", "language_of", "modes_of", "set_modes"]

Mode = Literal["off", "instant", "digest"]
MODES: dict[str, str] = {"off": "No mail", "instant": "At once", "digest": "Daily digest"}


async def modes_of(staff_id: int, site: Site) -> dict[str, str]:
    chosen = {s.event: s.mode for s in await MailSubscription.filter(staff_id=staff_id,
                                                                     site=site)}
    return {event: chosen.get(event, "off") for event in EVENT_LABELS}


async def language_of(staff_id: int) -> str:
    preference = await MailPreference.get_or_none(staff_id=staff_id)
    return preference.language if preference else "en"


async def set_modes(
    staff: Actor | Staff, site: Site, modes: dict[str, str], language: str
) -> None:
    """Replace the staff member's choices for the site (events not named: no mail)."""
    if unknown := sorted(set(modes) - set(EVENT_LABELS)):
        raise InvalidRequest(f"unknown events: {', '.join(unknown)}", field="form")
    if bad := sorted(e for e, m in modes.items() if m not in MODES):
        raise InvalidRequest(f"choose no mail, at once or daily digest for {', '.join(bad)}",
                             field="form")
    if language not in LANGUAGES:
        raise InvalidRequest("choose English, Swedish or Danish", field="language")
    async with in_transaction():
        before = await modes_of(staff.id, site)
        await MailSubscription.filter(staff_id=staff.id, site=site).delete()
        await MailSubscription.bulk_create([
            MailSubscription(staff_id=staff.id, site=site, event=event, mode=mode)
            for event, mode in modes.items() if mode != "off"
        ])
        preference, _ = await MailPreference.get_or_create(staff_id=staff.id)
        if preference.language != language:
            preference.language = language
            await preference.save(update_fields=["language"])
        after = {e: modes.get(e, "off") for e in EVENT_LABELS}
        if before != after:
            await audit.record(staff, "notifications.mail", "staff", staff.id, site=site,
                               before=before, after=after)

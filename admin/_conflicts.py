"""A save refused because the thing changed after the form was read (``StaleEdit``,
``cmp_server.services.revisions``), as the page shows it: who changed it and when, field by
field (from the audit log), what is saved now beside what staff typed, and the form again
with what they typed and the version now. Saving that form keeps theirs over the change
(knowingly); taking the other is the page read afresh. Nothing is lost silently.

Every edit form carries the version it was read at in a hidden ``version`` field
(``version_of`` reads it back); the conflict card is ``admin/_conflict.html``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData

from cmp_server.errors import InvalidRequest, StaleEdit
from cmp_server.services import audit_view, revisions
from cmp_server.services.audit_view import Change

from ._forms import Refusal, text_of

__all__ = ["Meanwhile", "Shown", "meanwhile", "read_at", "version_of", "without_form_error"]


def version_of(form: FormData) -> int | None:
    """The ``version`` a form was read at; None when it sent none (a form from before
    versions). Anything else is refused: it is no version a page of ours wrote."""
    value = text_of(form, "version")
    if not value:
        return None
    if not (len(value) <= 18 and value.isascii() and value.isdigit()):
        raise InvalidRequest("The form came with a version that is not one this page wrote: "
                             "reload the page and try again.")
    return int(value)


def read_at(form: FormData) -> int | None:
    """The version sent, to tell what changed since; a garbled one is the save's to refuse
    (``version_of`` in the service call), so here it reads as none."""
    try:
        return version_of(form)
    except InvalidRequest:
        return None


@dataclass(frozen=True)
class Shown:
    """One field of the form where what is saved now and what staff typed differ."""

    label: str
    theirs: str
    yours: str
    changed: bool  # changed meanwhile (the audit log names it), not only typed differently


@dataclass(frozen=True)
class Meanwhile:
    """What a refused save shows (``admin/_conflict.html``)."""

    version: int  # the version now: the form carries it, to save over it knowingly
    changes: tuple[tuple[datetime, str, str, tuple[Change, ...]], ...]  # at, who, action, what
    fields: tuple[Shown, ...]
    discard: str  # the page afresh: take what is saved now
    form_id: str  # the form whose submit keeps what staff typed


def _text(value: Any) -> str:
    return audit_view.text(value if value != "" else None)


async def meanwhile(
    refused: Refusal,
    subject: revisions.Subject,
    read_at: int | None,
    *,
    stored: Callable[[], Awaitable[Mapping[str, Any]]],
    typed: Mapping[str, Any],
    labels: Mapping[str, str],
    discard: str,
    form_id: str,
) -> Meanwhile | None:
    """The conflict ``refused`` is about, when it is one (else None): ``stored`` reads the
    values now (after the version, so they are at least as new), as ``typed`` holds them;
    ``labels`` names and orders the fields compared."""
    if refused.code != StaleEdit.code:
        return None
    version = await revisions.stamp(subject)
    now = await stored()
    entries = await revisions.since(subject, read_at or 0)
    changes = tuple(
        (e.at, e.actor, e.action, tuple(audit_view.changes(e.before, e.after)))
        for e in entries
    )
    touched = {c.field.split(".")[0] for *_, found in changes for c in found}
    touched |= {c.field.rsplit(".", 1)[-1] for *_, found in changes for c in found}
    touched |= {c.field for *_, found in changes for c in found}  # a nested name whole
    fields = tuple(
        Shown(label, _text(now.get(name)), _text(typed.get(name)), name in touched)
        for name, label in labels.items()
        if _text(now.get(name)) != _text(typed.get(name))
    )
    return Meanwhile(version, changes, fields, discard, form_id)


def without_form_error(refused: Refusal) -> dict[str, str]:
    """The refusal's errors less its message of the whole form, which the card replaces."""
    if refused.code != StaleEdit.code:
        return refused.errors
    return {k: v for k, v in refused.errors.items() if k != "form"}

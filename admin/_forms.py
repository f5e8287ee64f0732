"""Forms the sqladmin way: a page's form is parsed into a frozen pydantic model (``Form``),
the service is called with it, and whatever refuses it, pydantic or the service
(``CmpError.field``), comes back as a message beside the field it is about, on the same page
re-rendered with a 422 (a 409 for a conflict), never a 500.

``save_form`` is that one path; ``field_errors`` and ``refusal`` are its two halves, for a
page that does more than save a form (a filter read from the query string; the inventory's
bulk action, where rows gone meanwhile are the form's error rather than a 404). The parsers
``iso_date`` and ``whole_number`` take ASCII digits only: ``"²".isdigit()`` and ``\\d`` take
any digit.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from starlette.datastructures import FormData
from starlette.responses import Response

from cmp_server.errors import CmpError, NotFound
from cmp_server.validation import plain_message

from ._pages import status_for

__all__ = [
    "UNREFUSED",
    "DayRange",
    "Form",
    "Refusal",
    "day_between",
    "field_errors",
    "iso_date",
    "one_line",
    "refusal",
    "save_form",
    "text_of",
    "whole_number",
]

F = TypeVar("F", bound=BaseModel)
T = TypeVar("T")

_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def text_of(form: FormData, name: str) -> str:
    """A form field as text: a missing one is empty, a file upload is no text."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def one_line(value: str) -> str:
    if any(c in _CONTROL for c in value):
        raise ValueError("must be one line of text, without control characters")
    return value


def whole_number(value: object, digits: int) -> int | None:
    """``value`` as a whole number of 1 to ``digits`` ASCII digits, else None (an id or a
    page from a URL: ``int("²")`` raises, ``int("٣")`` is 3)."""
    text = value if isinstance(value, str) else ""
    ok = 0 < len(text) <= digits and text.isascii() and text.isdigit()
    return int(text) if ok else None


def iso_date(value: object, earliest: date, latest: date) -> date:
    """A day as YYYY-MM-DD, from ``earliest`` to ``latest`` (pydantic's own date would take a
    number of seconds, or a time)."""
    if isinstance(value, date):
        day = value
    elif not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("Give a date as YYYY-MM-DD, like 2026-01-31.")
    else:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value} is no date in the calendar.") from None
    if not earliest <= day <= latest:
        raise ValueError(f"Give a date from {earliest} to {latest}.")
    return day


def day_between(earliest: date, latest: date) -> BeforeValidator:
    """``Annotated[date | None, day_between(a, b)]``: a field parsed by ``iso_date``."""
    return BeforeValidator(lambda v: v if v is None else iso_date(v, earliest, latest))


def _refuse_nul(value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if isinstance(value, list | tuple):
        for item in value:
            _refuse_nul(item)
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key)
            _refuse_nul(item)


class Form(BaseModel):
    """Frozen, whitespace-stripped, and no NUL anywhere (PostgreSQL refuses it in text)."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        _refuse_nul(value)
        return value


def _name(loc: Sequence[str | int], names: Mapping[str, str]) -> str:
    """The form field a location names: ``names`` renames the model's field (to ``"form"``: an
    error of the whole form; ``"text-{}"``: the key inside it, ``texts.title`` → ``text-title``),
    and ``"form"`` itself where a page shows the whole form's errors elsewhere."""
    head = str(loc[0]) if loc else "form"
    name = names.get(head, head)
    if "{}" in name:
        return name.format(loc[1]) if len(loc) > 1 else names.get("form", "form")
    return name


def field_errors(
    exc: ValidationError,
    *,
    names: Mapping[str, str] | None = None,
    messages: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``{field: message}`` from pydantic's errors, in plain words (``cmp_server.validation``,
    never pydantic's own text); the first error of a field wins. ``messages`` says in its own
    words what is wrong with a model field staff do not type (a hidden field, a choice)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error["loc"]
        message = plain_message(error)
        if loc and messages and str(loc[0]) in messages:
            message = messages[str(loc[0])]
        errors.setdefault(_name(loc, names or {}), message)
    return errors


@dataclass(frozen=True)
class Refusal:
    """Why a form was not saved: messages by field (``form``: the whole form), the status to
    answer with, and the service error's code when the service refused it."""

    errors: dict[str, str] = field(default_factory=dict)
    status: int = 422
    code: str = ""


UNREFUSED = Refusal(status=200)  # a page shown as it is: no errors


def refusal(
    exc: CmpError, form: type[BaseModel] | None = None, names: Mapping[str, str] | None = None
) -> Refusal:
    """A service's refusal, beside the field it names (``CmpError.field``) when the form has
    that field; otherwise an error of the whole form."""
    loc = exc.field.split(".") if exc.field else []
    fields = {f.alias or n for n, f in form.model_fields.items()} if form else set()
    known = bool(loc) and (loc[0] in fields or loc[0] in (names or {}))
    return Refusal({_name(loc if known else [], names or {}): exc.detail}, status_for(exc),
                   exc.code)


async def save_form(
    form: type[F],
    values: Mapping[str, Any],
    service: Callable[[F], Awaitable[T]],
    *,
    done: Callable[[T], Response | Awaitable[Response]],
    again: Callable[[Refusal], Awaitable[Response]],
    names: Mapping[str, str] | None = None,
    messages: Mapping[str, str] | None = None,
    context: dict[str, Any] | None = None,
) -> Response:
    """Parse ``values`` into ``form``, call ``service`` with it and answer ``done(result)``;
    refused, answer ``again(refusal)``: the page once more, the messages beside their fields.

    A ``NotFound`` that names no field is no refusal of the form: the thing it was about is
    gone, and the error page says so (404)."""
    try:
        parsed = form.model_validate(values, context=context)
    except ValidationError as exc:
        return await again(Refusal(field_errors(exc, names=names, messages=messages)))
    try:
        result = await service(parsed)
    except CmpError as exc:
        if isinstance(exc, NotFound) and exc.field is None:
            raise
        return await again(refusal(exc, form, names))
    answer = done(result)
    return answer if isinstance(answer, Response) else await answer


class DayRange(Form):
    """A form's ``from`` and ``to`` days (``to`` inclusive); each form types the two fields
    with its own bounds (``day_between``) and gets the order check from here."""

    @field_validator("to", check_fields=False)
    @classmethod
    def _after_from(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("from_")
        if value is not None and start is not None and value < start:
            raise ValueError("Give a day on or after the start date.")
        return value

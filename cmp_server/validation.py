"""pydantic's validation errors in plain words, in one place: what a form shows beside a field
("Use at least 12 characters.") instead of pydantic's own ("String should have at least 12
characters"), which names a type the person typing never chose.

Every error type pydantic raises on the fields our forms and services declare has a message
here; an error of a type not listed reads ``FALLBACK``, never pydantic's text. A
``ValueError`` raised by our own validators (pydantic's ``value_error``) is ours already: it is
shown as written, with a capital and a full stop.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

__all__ = ["FALLBACK", "MESSAGES", "plain_message", "plain_messages"]

FALLBACK = "This value cannot be used here."

# pydantic's error type -> the message; ``{name}`` is filled from the error's context.
MESSAGES: dict[str, str] = {
    "missing": "Fill this in.",
    "string_too_short": "Use at least {min_length} characters.",
    "string_too_long": "Use at most {max_length} characters.",
    # Said of one: "Use at least 1 characters" is how the plural goes wrong.
    "string_too_short/1": "Fill this in.",
    "string_too_long/1": "Use one character at most.",
    "too_short/1": "Give at least one.",
    "too_long/1": "Give one at most.",
    "string_type": "Type this as text.",
    "string_pattern_mismatch": "This is not in the form this field takes.",
    "string_unicode": "Type this as text.",
    "too_short": "Give at least {min_length}.",
    "too_long": "Give at most {max_length}.",
    "int_parsing": "Give a whole number, such as 30.",
    "int_type": "Give a whole number, such as 30.",
    "int_from_float": "Give a whole number, without decimals.",
    "float_parsing": "Give a number, such as 2.5.",
    "float_type": "Give a number, such as 2.5.",
    "finite_number": "Give a number, such as 2.5.",
    "greater_than": "Give a number above {gt}.",
    "greater_than_equal": "Give {ge} or more.",
    "less_than": "Give a number below {lt}.",
    "less_than_equal": "Give {le} or less.",
    "multiple_of": "Give a multiple of {multiple_of}.",
    "bool_parsing": "Choose yes or no.",
    "bool_type": "Choose yes or no.",
    "literal_error": "Choose one of the options: {expected}.",
    "enum": "Choose one of the options: {expected}.",
    "uuid_parsing": "Give a whole id, like 3f2a9c1e-5b7d-4e1a-9c3b-2d4e6f8a0b1c.",
    "uuid_type": "Give a whole id, like 3f2a9c1e-5b7d-4e1a-9c3b-2d4e6f8a0b1c.",
    "uuid_version": "Give a whole id, like 3f2a9c1e-5b7d-4e1a-9c3b-2d4e6f8a0b1c.",
    "date_parsing": "Give a date as YYYY-MM-DD, like 2026-01-31.",
    "date_from_datetime_parsing": "Give a date as YYYY-MM-DD, like 2026-01-31.",
    "date_from_datetime_inexact": "Give a date as YYYY-MM-DD, like 2026-01-31.",
    "date_type": "Give a date as YYYY-MM-DD, like 2026-01-31.",
    "datetime_parsing": "Give a date and time, like 2026-01-31T12:00:00Z.",
    "datetime_from_date_parsing": "Give a date and time, like 2026-01-31T12:00:00Z.",
    "datetime_type": "Give a date and time, like 2026-01-31T12:00:00Z.",
    "timezone_aware": "Give a time with its time zone, like 2026-01-31T12:00:00Z.",
    "url_parsing": "Give an address such as https://example.com/.",
    "url_scheme": "Give an address that starts with {expected_schemes}.",
    "url_type": "Give an address such as https://example.com/.",
    "url_too_long": "Use at most {max_length} characters.",
    "list_type": "Choose from the list.",
    "set_type": "Choose from the list.",
    "tuple_type": "Choose from the list.",
    "dict_type": "This must be a group of named values.",
    "model_type": "This must be a group of named values.",
    "model_attributes_type": "This must be a group of named values.",
    "extra_forbidden": "This field is not one this form takes.",
    "frozen_instance": "This cannot be changed.",
    "frozen_field": "This cannot be changed.",
    "json_invalid": "This is not valid JSON.",
    "json_type": "This is not valid JSON.",
    "none_required": "Leave this empty.",
    "union_tag_invalid": "Choose one of the options.",
}


def _sentence(text: str) -> str:
    text = text.strip().removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if not text:
        return FALLBACK
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!)»”" else text + "."


def _context(ctx: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in ctx.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = f"{value:,}"
        else:
            out[key] = str(value)
    return out


def plain_message(error: ErrorDetails) -> str:
    """One of pydantic's errors as a sentence for the person who typed the value."""
    kind = error["type"]
    if kind in ("value_error", "assertion_error"):
        return _sentence(str(error["msg"]))
    ctx = dict(error.get("ctx") or {})
    if ctx.get("min_length", ctx.get("max_length")) == 1 and f"{kind}/1" in MESSAGES:
        kind = f"{kind}/1"
    template = MESSAGES.get(kind)
    if template is None:
        return FALLBACK
    try:
        return template.format(**_context(ctx))
    except (KeyError, IndexError, ValueError):
        return FALLBACK


def plain_messages(exc: ValidationError) -> list[tuple[tuple[int | str, ...], str]]:
    """Every error of ``exc`` as (its location, the plain message)."""
    return [(tuple(e["loc"]), plain_message(e)) for e in exc.errors()]

"""pydantic's errors in plain words (``cmp_server/validation.py``): each type our forms meet
reads as a sentence for the person typing, never pydantic's own text."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

import pytest
from pydantic import BaseModel, Field, ValidationError, field_validator

from cmp_server.validation import FALLBACK, MESSAGES, plain_message


class Sample(BaseModel):
    password: str = Field(default="x" * 12, min_length=12, max_length=20)
    name: str = Field(default="n", min_length=1)
    days: int = Field(default=30, ge=1, le=395)
    ratio: float = 0.5
    receipt: UUID | None = None
    day: date | None = None
    bucket: Literal["day", "week"] = "day"
    own: str = "fine"

    @field_validator("own")
    @classmethod
    def _own(cls, value: str) -> str:
        if value == "bad":
            raise ValueError("must be one line of text")
        return value


def message(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(values)
    (error,) = caught.value.errors()
    return plain_message(error)


@pytest.mark.parametrize(("values", "expected"), [
    ({"password": "short"}, "Use at least 12 characters."),
    ({"password": "x" * 21}, "Use at most 20 characters."),
    ({"name": ""}, "Fill this in."),
    ({"days": "ten"}, "Give a whole number, such as 30."),
    ({"days": "0"}, "Give 1 or more."),
    ({"days": "400"}, "Give 395 or less."),
    ({"days": "2.5"}, "Give a whole number, such as 30."),
    ({"ratio": "x"}, "Give a number, such as 2.5."),
    ({"receipt": "1234abcd"}, "Give a whole id, like 3f2a9c1e-5b7d-4e1a-9c3b-2d4e6f8a0b1c."),
    ({"day": "31/01/2026"}, "Give a date as YYYY-MM-DD, like 2026-01-31."),
    ({"bucket": "month"}, "Choose one of the options: 'day' or 'week'."),
    ({"own": "bad"}, "Must be one line of text."),
])
def test_each_error_reads_as_a_plain_sentence(values: dict[str, object], expected: str) -> None:
    said = message(**values)
    assert said == expected
    for raw in ("should", "Input", "String", "valid UUID", "Value error"):
        assert raw not in said


def test_every_message_is_a_sentence_and_an_unknown_type_is_never_pydantics_text() -> None:
    for kind, text in MESSAGES.items():
        assert text[0].isupper() and text.endswith("."), kind
    unknown = {"type": "some_new_type", "loc": ("x",), "msg": "Input should be whatever",
               "input": 1}
    assert plain_message(unknown) == FALLBACK  # type: ignore[arg-type]

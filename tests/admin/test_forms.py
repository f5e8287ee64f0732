"""The one way a form is saved (``admin/_forms.py``): a refusal, pydantic's or a service's
(``CmpError.field``), comes back beside its field; the small parsers take ASCII digits only."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated

import pytest
from pydantic import Field, ValidationError
from starlette.responses import PlainTextResponse, Response

from admin._forms import (
    Form,
    Refusal,
    day_between,
    field_errors,
    iso_date,
    refusal,
    save_form,
    whole_number,
)
from cmp_server.errors import (
    CmpError,
    Conflict,
    DomainClaimed,
    InvalidRequest,
    NotFound,
    as_value_error,
)
from cmp_server.services import sites

EARLY, LATE = date(2000, 1, 1), date(2100, 12, 31)


class Texts(Form):
    language: str = Field(min_length=1)
    name: str = Field(min_length=1, max_length=5)
    texts: dict[str, Annotated[str, Field(max_length=3)]] = {}
    day: Annotated[date | None, day_between(EARLY, LATE)] = None


@pytest.mark.parametrize(("value", "number"), [
    ("0", 0), ("42", 42), ("0042", 42), ("9" * 7, 9_999_999),
    ("", None), ("9" * 8, None), ("²", None), ("٣", None), ("１", None), ("-1", None),
    ("1.5", None), (" 1", None), ("1\x00", None), (None, None), (["1"], None),
])
def test_a_whole_number_is_ascii_digits_only(value: object, number: int | None) -> None:
    assert whole_number(value, 7) == number


@pytest.mark.parametrize(("value", "message"), [
    ("٢٠٢٦-٠١-٠١", "Give a date as YYYY-MM-DD"),  # \d and isdigit() take these
    ("２０２６-０１-０１", "Give a date as YYYY-MM-DD"),
    ("2026-1-5", "Give a date as YYYY-MM-DD"),
    ("20260105", "Give a date as YYYY-MM-DD"),  # date.fromisoformat takes this
    (1767225600, "Give a date as YYYY-MM-DD"),  # pydantic's date takes seconds
    ("2026-02-30", "2026-02-30 is no date in the calendar."),
    ("1999-12-31", "Give a date from 2000-01-01 to 2100-12-31."),
])
def test_a_day_is_yyyy_mm_dd_in_ascii_digits(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        iso_date(value, EARLY, LATE)
    assert iso_date("2026-01-31", EARLY, LATE) == date(2026, 1, 31)
    assert Texts.model_validate({"language": "sv", "name": "x", "day": None}).day is None


def test_pydantic_errors_are_named_as_the_form_names_its_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        Texts.model_validate({"name": "far too long", "texts": {"title": "long"},
                              "day": "2026-1-1"})
    assert field_errors(caught.value) == {
        "language": "Fill this in.",
        "name": "Use at most 5 characters.",
        "texts": "Use at most 3 characters.",
        "day": "Give a date as YYYY-MM-DD, like 2026-01-31.",
    }
    named = field_errors(caught.value, names={"language": "form", "texts": "text-{}"},
                         messages={"language": "Reload the page."})
    assert named["form"] == "Reload the page." and "text-title" in named
    with pytest.raises(ValidationError) as nul:
        Texts.model_validate({"language": "sv", "name": "a\x00b"})
    assert field_errors(nul.value) == {"name": "Must not contain NUL characters."}


@pytest.mark.parametrize(("error", "expected"), [
    (InvalidRequest("no", field="name"), Refusal({"name": "no"}, 422, "invalid_request")),
    (InvalidRequest("no", field="texts.title"),
     Refusal({"text-title": "no"}, 422, "invalid_request")),
    (InvalidRequest("no", field="options"), Refusal({"form": "no"}, 422, "invalid_request")),
    (InvalidRequest("no"), Refusal({"form": "no"}, 422, "invalid_request")),
    (Conflict("taken", field="name"), Refusal({"name": "taken"}, 409, "conflict")),
    (DomainClaimed("shared", field="domains"), Refusal({"form": "shared"}, 409,
                                                       "domain_claimed")),
])
def test_a_service_error_lands_beside_the_field_it_names(
    error: CmpError, expected: Refusal
) -> None:
    assert refusal(error, Texts, {"texts": "text-{}"}) == expected


async def test_save_form_answers_done_or_the_page_again() -> None:
    answers: list[Refusal] = []

    async def again(refused: Refusal) -> Response:
        answers.append(refused)
        return PlainTextResponse("again", refused.status)

    def done(name: str) -> Response:
        return PlainTextResponse(f"saved {name}")

    async def service(form: Texts) -> str:
        if form.name == "taken":
            raise Conflict("that name is taken", field="name")
        if form.name == "gone":
            raise NotFound("no such thing")
        return form.name

    async def save(values: dict[str, object]) -> Response:
        return await save_form(Texts, values, service, done=done, again=again)

    assert (await save({"language": "sv", "name": " ok "})).body == b"saved ok"
    assert (await save({"language": "sv", "name": ""})).status_code == 422
    assert (await save({"language": "sv", "name": "taken"})).status_code == 409
    assert [a.errors for a in answers] == [
        {"name": "Fill this in."}, {"name": "that name is taken"}]
    with pytest.raises(NotFound):  # the thing is gone: the 404 page, not the form again
        await save({"language": "sv", "name": "gone"})


@pytest.mark.parametrize(("check", "args", "field"), [
    (sites.normalise_domain, ("https://x.example/",), "domains"),
    (sites.check_cookie_domain, ("not a host",), "cookie_domain"),  # once said "domains"
    (sites.check_cookie_domain, ("10.0.0.1",), "cookie_domain"),
    (sites.check_languages, (["svenska"],), "languages"),
    (sites.check_name, ("",), "name"),
    (sites.check_url, ("javascript:x", "the URL"), None),
])
def test_site_checks_name_their_input(
    check: Callable[..., object], args: tuple[object, ...], field: str | None
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check(*args)
    assert caught.value.field == field
    with pytest.raises(ValueError, match=re.escape(caught.value.detail)):
        as_value_error(check, *args)

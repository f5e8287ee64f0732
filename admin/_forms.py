"""Form helpers shared by the admin's pages: forms are parsed into frozen pydantic models
(``Form``), and their errors go back beside the field they are about."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from starlette.datastructures import FormData

__all__ = ["Form", "field_errors", "one_line", "text_of"]

_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


def text_of(form: FormData, name: str) -> str:
    """A form field as text: a missing one is empty, a file upload is no text."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def one_line(value: str) -> str:
    if any(c in _CONTROL for c in value):
        raise ValueError("must be one line of text, without control characters")
    return value


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


def field_errors(exc: ValidationError) -> dict[str, str]:
    """``{field: message}`` for the form; the first error of a field wins."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        message = str(error["msg"]).removeprefix("Value error, ")
        errors.setdefault(field, message)
    return errors

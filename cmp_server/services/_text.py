"""Checks for text staff type into the inventory and vendor forms."""

from __future__ import annotations

from ..errors import InvalidRequest

__all__ = ["check_text", "check_texts"]

_CONTROL = frozenset(chr(c) for c in range(32)) | {"\x7f"}
_LANGUAGE_KEY = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def check_text(value: str, what: str, max_length: int, *, lines: bool = False) -> str:
    """``value`` stripped: at most ``max_length`` characters, no NUL (PostgreSQL refuses it
    in text), no other control characters (``lines``: line breaks and tabs allowed)."""
    text = value.strip()
    if len(text) > max_length:
        raise InvalidRequest(f"{what} may be at most {max_length} characters")
    allowed = {"\n", "\r", "\t"} if lines else set()
    if "\x00" in text or any(c in _CONTROL and c not in allowed for c in text):
        raise InvalidRequest(
            f"{what} must be {'text' if lines else 'one line of text'}, without control characters"
        )
    return text


def check_texts(values: dict[str, str], what: str, max_length: int) -> dict[str, str]:
    """Texts per language (``{"en": ..., "sv": ...}``), each checked by :func:`check_text`."""
    checked: dict[str, str] = {}
    for lang, text in values.items():
        if not (0 < len(lang) <= 16 and set(lang) <= _LANGUAGE_KEY):
            raise InvalidRequest(f"{what}: {lang!r} is not a language code")
        checked[lang] = check_text(text, f"{what} ({lang})", max_length, lines=True)
    return checked

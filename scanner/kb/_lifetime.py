"""Read a cookie lifetime written as free text ("2 years", "session", "13 months") into days.

Months count as 30 days and years as 365; the result is rounded up to whole days, so
"30 minutes" is 1. A range ("30 seconds till 1 year", "Session to 30 days") yields its upper
bound: a cookie declaration states how long a cookie may live.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Lifetime", "parse_lifetime"]

_SECONDS = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "mo": 30 * 86400,
    "y": 365 * 86400,
}
_UNIT = {
    "second": "s", "seconds": "s", "sec": "s", "secs": "s",
    "minute": "m", "minutes": "m", "min": "m", "mins": "m",
    "hour": "h", "hours": "h", "hr": "h", "hrs": "h", "h": "h",
    "day": "d", "days": "d", "d": "d",
    "week": "w", "weeks": "w", "w": "w",
    "month": "mo", "months": "mo", "mo": "mo",
    "year": "y", "years": "y", "yr": "y", "yrs": "y", "y": "y",
}  # fmt: skip
_QUANTITY = re.compile(
    r"(\d+(?:[.,]\d+)?)\s*(" + "|".join(sorted(_UNIT, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
# "Seesion" is a typo found in real tables; "end of session (browser)" is a common phrasing.
_SESSION = re.compile(r"\bse+s+ions?\b", re.IGNORECASE)
_IMMEDIATE = re.compile(r"\bimmediately\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Lifetime:
    """``days`` set: a fixed lifetime. ``session``: deleted when the browser closes.
    Neither: not known (the text was "Unknown", "Varies", "forever", a date, ...)."""

    days: int | None
    session: bool

    @property
    def known(self) -> bool:
        return self.session or self.days is not None


def parse_lifetime(text: str) -> Lifetime:
    """Parse ``text``; never raises. ``Lifetime(None, False)`` means "could not tell".

    >>> parse_lifetime("13 months")
    Lifetime(days=390, session=False)
    """
    seconds = [
        float(number.replace(",", ".")) * _SECONDS[_UNIT[unit.lower()]]
        for number, unit in _QUANTITY.findall(text)
    ]
    if seconds:
        return Lifetime(days=math.ceil(max(seconds) / 86400), session=False)
    if _SESSION.search(text):
        return Lifetime(days=None, session=True)
    if _IMMEDIATE.search(text):
        return Lifetime(days=0, session=False)
    return Lifetime(days=None, session=False)

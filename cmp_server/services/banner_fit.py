"""Will the banner be readable? Colour contrast (WCAG 2.x) and the first layer's height on a
small phone, for the lint (``services/lint.py``).

**Contrast** is WCAG's: the relative luminance of each sRGB colour, and the ratio
``(L1 + 0.05) / (L2 + 0.05)`` of the lighter to the darker (1:1 to 21:1). AA asks 4.5:1 of
text at the banner's size; a button's edge against the banner 3:1 (non-text contrast).

**Height** is a documented budget, not a measurement: the lint runs without a browser, on
every summary. The first layer is laid out as the embed's stylesheet (``embed/src/ui/
styles.css``) lays it out on a 320×568 screen, the smallest phone still in use: 15 px text on
22.5 px lines, a box .5 rem from the edges with 1 rem padding (the bar: edge to edge, 1.25 rem
padding), at most ``100% - 1rem`` high (552 px), the three buttons stacked at least 44 px high
each (all as high as the highest). The Global Privacy Control notice is left out: only visitors
whose browser sends the signal see it, and the banner then scrolls if it must. Words are
wrapped greedily at an average character width of 0.55 em
(bold button labels: 0.62 em; the site's own font, which may be wider: 0.6 em and 0.67 em).
DejaVu Sans, the widest common system font, averages 0.51 em on Swedish prose (measured in
Chromium), Segoe UI, San Francisco and Roboto less: the budget errs on the side of "does not
fit". The first layer that fits this budget fits the screen without scrolling, with every
button in view (``tests/embed/test_appearance.py`` measures it in Chromium); what does not is
refused, and the embed still lets a visitor scroll inside the banner to every word.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..schemas import Appearance

__all__ = ["SCREEN", "Fit", "contrast", "first_layer_fit", "luminance"]

SCREEN = (320, 568)
LINE = 22.5  # px: 15 px text, line-height 1.5
_EM = 15.0
_GAP, _BUTTON_MIN, _BUTTON_CHROME = 8.0, 44.0, 2 * 8 + 2 * 2  # padding and border
_MARGIN_H2, _MARGIN_P = 8.0, 12.0
_LOGO = 32.0 + 8.0  # 2 rem high and its margin


def luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb``."""
    channels = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours, from 1.0 to 21.0."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _lines(text: str, per_line: int) -> int:
    """Lines ``text`` takes when wrapped greedily at ``per_line`` characters (a word longer
    than a line is broken, as ``overflow-wrap: break-word`` does)."""
    count = 0
    for paragraph in text.split("\n"):
        used = 0
        count += 1
        for word in paragraph.split():
            if used and used + 1 + len(word) <= per_line:
                used += 1 + len(word)
                continue
            if used:
                count += 1
            count += (len(word) - 1) // per_line
            used = (len(word) - 1) % per_line + 1
    return count


@dataclass(frozen=True)
class Fit:
    """The first layer on a 320×568 screen: its estimated height, the room it has, and the
    characters of text per line of the description."""

    needed: float
    room: float
    per_line: int

    @property
    def fits(self) -> bool:
        return self.needed <= self.room

    @property
    def over_by(self) -> int:
        """About how many characters of text to cut so that it fits (0: it fits)."""
        if self.fits:
            return 0
        return math.ceil((self.needed - self.room) / LINE) * self.per_line


def first_layer_fit(
    appearance: Appearance, texts: dict[str, str], *, gpc: bool = False, policy: bool = True
) -> Fit:
    """``texts``: one language's resolved texts. ``gpc``: the Global Privacy Control notice
    may be shown (to visitors whose browser sends the signal); ``policy``: the policy link."""
    width, height = SCREEN
    bar = appearance.layout == "bar"
    pad = 20 if bar else 16
    border = 1 if bar else 2
    content = width - 2 * pad - (0 if bar else 2 * 8 + 2)
    inherit = appearance.font == "inherit"
    per_line = int(content // (_EM * (0.6 if inherit else 0.55)))
    per_button = int((content - 2 * 16 - 4) // (_EM * (0.67 if inherit else 0.62)))
    labels = (texts.get("accept_all", ""), texts.get("reject_all", ""), texts.get("customize", ""))
    button = max(_BUTTON_MIN, max(_lines(t, per_button) for t in labels) * LINE
                 + _BUTTON_CHROME)
    needed = (
        border + 2 * pad
        + (_LOGO if appearance.logo else 0)
        + _lines(texts.get("title", ""), per_line) * LINE + _MARGIN_H2
        + _lines(texts.get("description", ""), per_line) * LINE + _MARGIN_P
        + ((_lines(texts.get("gpc_notice", ""), per_line) * LINE + _MARGIN_P) if gpc else 0)
        + 3 * button + 2 * _GAP + _MARGIN_P
        + (_lines(texts.get("policy_link", ""), per_line) * LINE if policy else 0)
    )
    return Fit(needed=needed, room=height - 16, per_line=per_line)

"""Server-side SVG charts: the geometry here, the markup in ``templates/admin/_charts.html``
(autoescaped like every page: no text reaches the SVG unescaped).

Made for the admin's CSP (``style-src 'self'``): colours are SVG presentation attributes
(``fill=``), never ``style=``. Each chart is ``role="img"`` labelled by its ``<title>`` and
``<desc>``; every bar carries a ``<title>`` with its numbers; the page shows the same numbers
in a table, so no reading depends on the chart or its colours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

__all__ = ["Chart", "Series", "day_label", "rate_columns", "stacked_bars"]

# Okabe and Ito's palette, told apart with the common colour-vision deficiencies; each is at
# least 3:1 against white but GPC's grey, which is darker still. Not the only cue: segments
# are stacked in the legend's order, parted by white lines, and titled.
COLOURS = {
    "accept_all": "#0072B2",
    "reject_all": "#D55E00",
    "custom": "#009E73",
    "withdraw": "#CC79A7",
    "gpc": "#555555",
}
OTHER_COLOUR = "#999999"
RATE_COLOUR = "#0072B2"


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str
    values: Sequence[int]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "middle"  # start, middle or end
    rotate: bool = False  # turned a quarter left, about its point (a y axis title)


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Chart:
    id: str  # unique on the page: the ids of its <title> and <desc> derive from it
    title: str
    desc: str
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)  # tick labels, axis titles, values
    grid: list[Line] = field(default_factory=list)
    axes: list[Line] = field(default_factory=list)
    # White lines between stacked segments, where bars are wide enough to keep them.
    separators: bool = False


def day_label(day: date) -> str:
    return f"{day.day} {day:%b}"


def _step(top: float) -> int:
    """A round tick step (1, 2 or 5 times a power of ten) for about four ticks up to ``top``."""
    rough = max(top / 4, 1)
    power = 10 ** math.floor(math.log10(rough))
    return next(int(m * power) for m in (1, 2, 5, 10) if m * power >= rough)


def _fmt(n: int) -> str:
    return f"{n:,}"


def _x_labels(labels: Sequence[str], left: float, slot: float, y: float, width: float
              ) -> list[Text]:
    """Every label that fits: at most one per ``72`` px, evenly spread."""
    every = max(1, math.ceil(len(labels) / max(1, int(width // 72))))
    return [Text(left + slot * (i + 0.5), y, label)
            for i, label in enumerate(labels) if i % every == 0]


_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 24, 56
_DIGIT = 7.5  # the width of a digit at the charts' 13 px, near enough


def stacked_bars(
    id: str, title: str, desc: str, labels: Sequence[str], long_labels: Sequence[str],
    series: Sequence[Series], *, x_title: str, y_title: str, width: int = 960,
    height: int = 340,
) -> Chart:
    """One bar per label, its series stacked bottom up in order; each segment titled with
    ``long_labels[i]``, the series' label and its value."""
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    step = _step(max(totals, default=0))
    top = max(step, math.ceil(max(totals, default=0) / step) * step)
    slot = plot_w / max(1, len(labels))
    bar = max(1.0, slot * 0.72)
    scale = plot_h / top
    bottom = _TOP + plot_h
    chart = Chart(id, title, desc, width, height, separators=bar >= 6)
    for tick in range(0, top + 1, step):
        y = bottom - tick * scale
        chart.grid.append(Line(_LEFT, y, width - _RIGHT, y))
        chart.texts.append(Text(_LEFT - 8, y + 4, _fmt(tick), "end"))
    for i, total in enumerate(totals):
        x = _LEFT + slot * i + (slot - bar) / 2
        y = bottom
        for s in series:
            value = s.values[i]
            if not value:
                continue
            h = value * scale
            y -= h
            chart.rects.append(Rect(round(x, 2), round(y, 2), round(bar, 2), round(h, 2),
                                    s.colour, f"{long_labels[i]}: {s.label} {_fmt(value)}"))
        if total and len(_fmt(total)) * _DIGIT <= slot - 2:  # the total on top, if it fits
            chart.texts.append(Text(round(x + bar / 2, 2), round(y - 5, 2), _fmt(total)))
    chart.texts.extend(_x_labels(labels, _LEFT, slot, bottom + 18, plot_w))
    chart.texts.append(Text(_LEFT + plot_w / 2, height - 10, x_title))
    chart.texts.append(Text(18, _TOP + plot_h / 2, y_title, rotate=True))
    chart.axes.append(Line(_LEFT, bottom, width - _RIGHT, bottom))
    chart.axes.append(Line(_LEFT, _TOP, _LEFT, bottom))
    return chart


def rate_columns(
    id: str, title: str, desc: str, labels: Sequence[str], long_labels: Sequence[str],
    rates: Sequence[tuple[int, int]], *, x_title: str, width: int = 960, height: int = 170,
) -> Chart:
    """A column per label: the share ``granted / decided`` (each of ``rates``) from 0 to
    100 %; no column where nothing was decided."""
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM + 8
    bottom = _TOP + plot_h
    slot = plot_w / max(1, len(labels))
    bar = max(1.0, slot * 0.72)
    chart = Chart(id, title, desc, width, height)
    for share in (0, 50, 100):
        y = bottom - plot_h * share / 100
        chart.grid.append(Line(_LEFT, y, width - _RIGHT, y))
        chart.texts.append(Text(_LEFT - 8, y + 4, f"{share} %", "end"))
    for i, (decided, granted) in enumerate(rates):
        if not decided:
            continue
        h = plot_h * granted / decided
        x = _LEFT + slot * i + (slot - bar) / 2
        chart.rects.append(Rect(
            round(x, 2), round(bottom - h, 2), round(bar, 2), round(h, 2), RATE_COLOUR,
            f"{long_labels[i]}: {percent(granted, decided)} granted"
            f" ({_fmt(granted)} of {_fmt(decided)})",
        ))
    chart.texts.extend(_x_labels(labels, _LEFT, slot, bottom + 18, plot_w))
    chart.texts.append(Text(_LEFT + plot_w / 2, height - 8, x_title))
    chart.axes.append(Line(_LEFT, bottom, width - _RIGHT, bottom))
    chart.axes.append(Line(_LEFT, _TOP, _LEFT, bottom))
    return chart


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage with one decimal, or an en dash for none."""
    return f"{100 * part / whole:.1f} %" if whole else "–"

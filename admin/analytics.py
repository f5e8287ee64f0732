"""Consent rates: a site's consent outcomes per day or week over a range, and each purpose's
granted rate, as SVG charts with the same numbers in tables beside them. Read from the
counters (``services.analytics``), so a year answers as fast as a week."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cmp_server._utils import plural, utcnow
from cmp_server.schemas import METHOD_LABELS
from cmp_server.services import analytics

from . import _charts
from ._forms import day_between, field_errors
from ._pages import render
from ._security import requires

if TYPE_CHECKING:
    from cmp_server.models import Site

__all__ = ["RangeQuery", "routes"]

B = TypeVar("B", analytics.Bucket, analytics.PurposeBucket)
DEFAULT_DAYS = 30
NARROW = 300  # px: the width of the charts a phone shows (the admin.css switches at 40rem)
MAX_BUCKETS = {"day": 366, "week": 530}  # a year by day, ten years by week
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
LABELS = METHOD_LABELS
Day = Annotated[date, day_between(EARLIEST, LATEST)]


class RangeQuery(BaseModel):
    """The page's GET form: from, to (UTC days, both included) and the bucket."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    start: Day = Field(alias="from")
    end: Day = Field(alias="to")
    bucket: Literal["day", "week"] = "day"

    @field_validator("bucket", mode="before")
    @classmethod
    def _day_or_week(cls, value: object) -> object:
        if value not in ("day", "week"):
            raise ValueError("Choose by day or by week.")
        return value

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is not None and value < start:
            raise ValueError("Give a day on or after the first day.")
        return value

    @field_validator("bucket")
    @classmethod
    def _not_too_many(cls, value: str, info: ValidationInfo) -> str:
        start, end = info.data.get("start"), info.data.get("end")
        if start is not None and end is not None:
            count = len(analytics.buckets(start, end, value))  # type: ignore[arg-type]
            if count > MAX_BUCKETS[value]:
                raise ValueError(
                    f"By {value}, at most {MAX_BUCKETS[value]} {value}s fit: this range has"
                    f" {count}. Choose a shorter range"
                    + (" or by week." if value == "day" else ".")
                )
        return value


@dataclass(frozen=True)
class Quiet:
    """Buckets in a row with nothing to show, one line in a table instead of a line each
    (30 days of zeros were 4,800 px on a phone)."""

    start: date
    end: date
    buckets: int


def folded(buckets: Sequence[B], empty: Callable[[B], bool]) -> list[B | Quiet]:
    """``buckets`` with each run of empty ones folded into one ``Quiet``."""
    out: list[B | Quiet] = []
    for b in buckets:
        if not empty(b):
            out.append(b)
            continue
        last = out[-1] if out else None
        if isinstance(last, Quiet):
            out[-1] = Quiet(last.start, b.end, last.buckets + 1)
        else:
            out.append(Quiet(b.start, b.end, 1))
    return out


def _default_range() -> dict[str, str]:
    today = utcnow().date()
    return {"from": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
            "to": today.isoformat(), "bucket": "day"}


def _long(b: Any, bucket: str) -> str:
    if bucket == "day":
        return f"{b.start:%a} {b.start.isoformat()}"
    return f"week of {b.start.isoformat()} to {b.end.isoformat()}"


def _outcome_chart(
    site_name: str, found: analytics.Outcomes, width: int = 960, suffix: str = ""
) -> tuple[_charts.Chart, list[_charts.Series]]:
    series = [
        _charts.Series(m, LABELS.get(m, m), _charts.COLOURS.get(m, _charts.OTHER_COLOUR),
                       [b.counts[m] for b in found.buckets])
        for m in found.methods
    ]
    labels = [_charts.day_label(b.start) for b in found.buckets]
    longs = [_long(b, found.bucket) for b in found.buckets]
    per = "day" if found.bucket == "day" else "week"
    shares = ", ".join(
        f"{LABELS.get(m, m).lower()} {n:,} ({_charts.percent(n, found.total)})"
        for m in found.methods if (n := found.totals[m])
    )
    chart = _charts.stacked_bars(
        "outcomes" + suffix,
        f"Consent outcomes per {per}, {site_name}, {found.start} to {found.end}",
        f"Stacked bars, one per {per}: the receipts of each method."
        f" {plural(found.total, 'receipt')} in all: {shares}."
        if found.total else "No receipts in this range.",
        labels, longs, series,
        x_title=f"{per.capitalize()} (UTC){', week starting' if per == 'week' else ''}",
        y_title="Receipts", width=width, height=340 if width > NARROW else 240,
    )
    return chart, series


def _rate_charts(
    found: analytics.PurposeRates, width: int = 960, suffix: str = ""
) -> list[tuple[str, _charts.Chart]]:
    """A small chart per purpose a visitor may refuse (a required one is always granted)."""
    labels = [_charts.day_label(b.start) for b in found.buckets]
    longs = [_long(b, found.bucket) for b in found.buckets]
    per = "day" if found.bucket == "day" else "week"
    charts = []
    for n, purpose in enumerate(found.purposes):
        if purpose in found.required:
            continue
        total = found.totals[purpose]
        charts.append((purpose, _charts.rate_columns(
            f"rate-{n}{suffix}",
            f"Granted rate of {purpose} per {per}",
            f"Columns from 0 to 100 %, one per {per} with decisions: the share of receipts"
            f" that granted {purpose}. Over the range: "
            f"{_charts.percent(total.granted, total.decided)}"
            f" ({total.granted:,} of {total.decided:,}).",
            labels, longs,
            [(b.rates[purpose].decided, b.rates[purpose].granted) for b in found.buckets],
            x_title=f"{per.capitalize()} (UTC)", width=width,
        )))
    return charts


@requires("viewer", site=True)
async def consent_rates(request: Request, site: Site) -> Response:
    params = request.query_params
    values = _default_range()
    values.update({k: params[k] for k in ("from", "to", "bucket") if params.get(k)})
    context: dict[str, Any] = {"site": site, "tab": "analytics", "values": values,
                               "errors": {}, "labels": LABELS}
    try:
        query = RangeQuery.model_validate(values)
    except ValidationError as exc:
        context["errors"] = field_errors(exc)
        return render(request, "admin/analytics.html", context, 422)
    found = await analytics.outcomes(site, query.start, query.end, query.bucket)
    rates = await analytics.purpose_rates(site, query.start, query.end, query.bucket)
    chart, series = _outcome_chart(site.name, found)
    shown = [p for p in rates.purposes if p not in rates.required]
    # Each chart twice: the wide one, and one drawn for a phone's width (never scaled down
    # to unreadable, never cut off); the page's CSS shows one of them.
    context.update(
        query=query, outcomes=found, rates=rates, chart=chart, series=series,
        narrow_chart=_outcome_chart(site.name, found, NARROW, "-narrow")[0],
        rate_charts=list(zip(_rate_charts(rates), _rate_charts(rates, NARROW, "-narrow"),
                             strict=True)),
        outcome_rows=folded(found.buckets, lambda b: b.total == 0),
        rate_rows=folded(rates.buckets,
                         lambda b: all(b.rates[p].decided == 0 for p in shown)),
        percent=_charts.percent,
    )
    return render(request, "admin/analytics.html", context)


routes = [
    Route("/sites/{key}/analytics", consent_rates, methods=["GET"], name="analytics"),
]

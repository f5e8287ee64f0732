"""Consent-rate analytics: a site's consent outcomes and its purposes' granted rates over
time, read from the counters (``counters``), never by grouping the raw receipts per view.

Days are UTC days. A week is an ISO week, Monday to Sunday, named by its Monday; the first and
last week of a range hold only the range's days (``Bucket.start``/``end`` say which).

Rates: a method's share is its receipts over all receipts of the bucket (withdrawals and GPC
signals included: each is a receipt); a purpose's granted rate is, among the receipts that
decided on the purpose, the share that granted it. A rate with nothing to divide is None.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from tortoise.functions import Sum

from .._utils import utcnow
from ..models import ConsentDaily, Purpose, Site
from ..schemas import METHODS
from .counters import TOTAL, utc_day

__all__ = [
    "METHODS",
    "Bucket",
    "BucketSize",
    "Outcomes",
    "PurposeBucket",
    "PurposeRates",
    "Rate",
    "Recent",
    "buckets",
    "outcomes",
    "purpose_rates",
    "recent",
    "recent_by_site",
]

BucketSize = Literal["day", "week"]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def buckets(start: date, end: date, size: BucketSize) -> list[tuple[date, date]]:
    """The buckets of ``start`` to ``end`` (both included), each as its first and last day in
    the range."""
    if start > end:
        return []
    if size == "day":
        return [(start + timedelta(i), start + timedelta(i)) for i in range((end - start).days + 1)]
    spans = []
    first = start
    while first <= end:
        sunday = first + timedelta(days=6 - first.weekday())
        spans.append((first, min(sunday, end)))
        first = sunday + timedelta(days=1)
    return spans


def _index(spans: list[tuple[date, date]]) -> dict[date, int]:
    """Each day of the spans: the number of its span."""
    where = {}
    for n, (first, last) in enumerate(spans):
        for i in range((last - first).days + 1):
            where[first + timedelta(days=i)] = n
    return where


@dataclass(frozen=True)
class Bucket:
    start: date
    end: date
    counts: dict[str, int]  # every method of ``Outcomes.methods``, 0 when none
    total: int

    def share(self, method: str) -> float | None:
        return _rate(self.counts.get(method, 0), self.total)


@dataclass(frozen=True)
class Outcomes:
    site_key: str
    start: date
    end: date
    bucket: BucketSize
    methods: tuple[str, ...]  # the known methods in order, then any other found
    buckets: list[Bucket]
    totals: dict[str, int]
    total: int

    def share(self, method: str) -> float | None:
        return _rate(self.totals.get(method, 0), self.total)


def _methods(found: Iterable[str]) -> tuple[str, ...]:
    # Stored methods are only ever added to: one written by a newer version still shows.
    return METHODS + tuple(sorted(set(found) - set(METHODS)))


async def outcomes(
    site: Site, start: date, end: date, bucket: BucketSize = "day"
) -> Outcomes:
    """Receipts per method per bucket of ``start`` to ``end`` (UTC days, both included)."""
    spans = buckets(start, end, bucket)
    rows = await ConsentDaily.filter(
        site_id=site.id, purpose=TOTAL, day__gte=start, day__lte=end
    ).values_list("day", "method", "receipts")
    methods = _methods(method for _, method, _ in rows)
    per: list[dict[str, int]] = [dict.fromkeys(methods, 0) for _ in spans]
    where = _index(spans)
    for day, method, n in rows:
        per[where[day]][method] += n
    made = [Bucket(first, last, counts, sum(counts.values()))
            for (first, last), counts in zip(spans, per, strict=True)]
    totals = {m: sum(b.counts[m] for b in made) for m in methods}
    return Outcomes(site.key, start, end, bucket, methods, made, totals, sum(totals.values()))


@dataclass(frozen=True)
class Rate:
    decided: int  # receipts that decided on the purpose
    granted: int  # of those, the ones that granted it

    @property
    def rate(self) -> float | None:
        return _rate(self.granted, self.decided)


@dataclass(frozen=True)
class PurposeBucket:
    start: date
    end: date
    rates: dict[str, Rate]  # every purpose of ``PurposeRates.purposes``


@dataclass(frozen=True)
class PurposeRates:
    site_key: str
    start: date
    end: date
    bucket: BucketSize
    purposes: tuple[str, ...]  # the site's purposes in their order, then any other found
    required: frozenset[str]  # always granted: their rate says nothing
    buckets: list[PurposeBucket]
    totals: dict[str, Rate] = field(default_factory=dict)


async def purpose_rates(
    site: Site, start: date, end: date, bucket: BucketSize = "day"
) -> PurposeRates:
    """Per purpose and bucket of ``start`` to ``end``: how many receipts decided on it, and
    how many of them granted it (every method together)."""
    spans = buckets(start, end, bucket)
    rows = (
        await ConsentDaily.filter(site_id=site.id, purpose__gt=TOTAL, day__gte=start,
                                  day__lte=end)
        .annotate(decided=Sum("receipts"), yes=Sum("granted"))
        .group_by("day", "purpose")
        .values_list("day", "purpose", "decided", "yes")
    )
    defined = await Purpose.filter(site_id=site.id).order_by("order", "id").values_list(
        "key", "required"
    )
    order = [key for key, _ in defined]
    found = {purpose for _, purpose, _, _ in rows}
    purposes = (*(k for k in order if k in found or not rows), *sorted(found - set(order)))
    decided: list[dict[str, int]] = [dict.fromkeys(purposes, 0) for _ in spans]
    granted: list[dict[str, int]] = [dict.fromkeys(purposes, 0) for _ in spans]
    where = _index(spans)
    for day, purpose, n, yes in rows:
        decided[where[day]][purpose] += int(n)
        granted[where[day]][purpose] += int(yes)
    made = [
        PurposeBucket(first, last, {p: Rate(d[p], g[p]) for p in purposes})
        for (first, last), d, g in zip(spans, decided, granted, strict=True)
    ]
    totals = {
        p: Rate(sum(b.rates[p].decided for b in made), sum(b.rates[p].granted for b in made))
        for p in purposes
    }
    required = frozenset(key for key, is_required in defined if is_required)
    return PurposeRates(site.key, start, end, bucket, purposes, required, made, totals)


@dataclass(frozen=True)
class Recent:
    """A site's receipts of the last ``days`` UTC days, today included."""

    start: date
    end: date
    counts: dict[str, int]
    total: int

    @property
    def accept_rate(self) -> float | None:
        """Accept all, over every receipt."""
        return _rate(self.counts.get("accept_all", 0), self.total)

    @property
    def reject_rate(self) -> float | None:
        """Reject all, over every receipt (GPC signals are counted apart, as ``gpc``)."""
        return _rate(self.counts.get("reject_all", 0), self.total)


def _window(days: int, today: date | None) -> tuple[date, date]:
    if days < 1:
        raise ValueError("days must be at least 1")
    end = today or utc_day(utcnow())
    return end - timedelta(days=days - 1), end


async def recent(site: Site, days: int = 7, *, today: date | None = None) -> Recent:
    """For the dashboard: the site's receipts of the last ``days`` days (today included),
    with the accept-all and reject-all rates."""
    return (await recent_by_site(days, today=today, site_ids=[site.id])).get(
        site.id, _empty(*_window(days, today))
    )


def _empty(start: date, end: date) -> Recent:
    return Recent(start, end, dict.fromkeys(METHODS, 0), 0)


async def recent_by_site(
    days: int = 7, *, today: date | None = None, site_ids: list[int] | None = None
) -> dict[int, Recent]:
    """``recent`` for every site (or those of ``site_ids``) in one query, by site id; a site
    without receipts in the window is left out."""
    start, end = _window(days, today)
    if site_ids is None:  # by site: the counters' index starts with the site
        site_ids = [site.id for site in await Site.all().only("id")]
    rows = (
        await ConsentDaily.filter(site_id__in=site_ids, purpose=TOTAL, day__gte=start,
                                  day__lte=end)
        .annotate(n=Sum("receipts"))
        .group_by("site_id", "method")
        .values_list("site_id", "method", "n")
    )
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(METHODS, 0))
    for site_id, method, n in rows:
        counts[site_id][method] = counts[site_id].get(method, 0) + int(n)
    return {
        site_id: Recent(start, end, c, sum(c.values())) for site_id, c in counts.items()
    }

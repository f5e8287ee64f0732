"""The consent-rate page (``admin/analytics.py``, charts from ``admin/_charts.py``): the numbers
of receipts posted through the public API, in the table and in the chart, and a bad range
answered beside its field with a 422."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from cmp_server._utils import utcnow

from ..factories import ORIGIN, published_site, receipt_body, staff_member
from ._client import sign_in

HEADERS = {"Origin": ORIGIN, "Content-Type": "text/plain"}
ALL = {"necessary": True, "preferences": True, "statistics": True, "marketing": True}
NONE = {"necessary": True, "preferences": False, "statistics": False, "marketing": False}
SOME = {"necessary": True, "preferences": False, "statistics": True, "marketing": False}


class _Tables(HTMLParser):
    """Each table's rows (by the table's id), each row its cells' text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


async def _post(client: httpx.AsyncClient, key: str, method: str, choices: dict[str, bool],
                **extra: Any) -> dict[str, Any]:
    body = receipt_body(method=method, choices=choices, **extra)
    r = await client.post(f"/v1/sites/{key}/consents", content=orjson.dumps(body),
                          headers=HEADERS)
    assert r.status_code == 201, r.text
    return body


async def _posted(client: httpx.AsyncClient, key: str) -> None:
    """Today: accept all 3 (one sent twice), reject all 2, custom 1, a withdrawal, GPC 1."""
    first = await _post(client, key, "accept_all", ALL)
    again = await client.post(f"/v1/sites/{key}/consents", content=orjson.dumps(first),
                              headers=HEADERS)
    assert again.status_code == 201
    await _post(client, key, "accept_all", ALL)
    await _post(client, key, "accept_all", ALL)
    await _post(client, key, "reject_all", NONE)
    await _post(client, key, "reject_all", NONE)
    await _post(client, key, "custom", SOME)
    await _post(client, key, "withdraw", NONE, consent_id=first["consent_id"])
    await _post(client, key, "gpc", SOME)


async def test_the_page_shows_the_receipts_posted_through_the_api(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await _posted(client, site.key)
    viewer = await staff_member("viewer")
    await sign_in(client, viewer.email)
    r = await client.get(f"/admin/sites/{site.key}/analytics")
    assert r.status_code == 200
    page = r.text
    found = tables(page)
    today = utcnow().date()
    head, *rows, foot = found["outcomes-table"]
    assert head == ["Day", "Accept all", "Reject all", "Custom", "Withdraw", "GPC", "All"]
    # The last 30 days by default; the 29 without receipts fold into one row (not 29 of 0s).
    assert len(rows) == 2 and rows[-1][0] == today.isoformat()
    assert rows[0] == [
        f"{today - timedelta(days=29)} – {today - timedelta(days=1)} (29 days): no receipts"]
    assert rows[-1][1:] == ["3", "2", "1", "1", "1", "8"]
    assert foot == ["All", "3 37.5 %", "2 25.0 %", "1 12.5 %", "1 12.5 %", "1 12.5 %", "8"]
    assert "<strong>8</strong> receipts" in page and "accept all <strong>37.5 %</strong>" in page
    assert "reject all <strong>25.0 %</strong>" in page
    # The chart: one titled segment per method of today, the same numbers.
    at = page.index('<svg class="chart wide"')
    svg = page[at:page.index("</svg>", at)]
    assert 'role="img" aria-labelledby="outcomes-title outcomes-desc"' in svg
    assert (f'<title id="outcomes-title">Consent outcomes per day, Shop,'
            f" {today - timedelta(29)} to {today}</title>") in svg
    titles = re.findall(r"<rect [^>]*><title>([^<]*)</title>", svg)
    label = f"{today:%a} {today.isoformat()}"
    assert titles == [f"{label}: Accept all 3", f"{label}: Reject all 2", f"{label}: Custom 1",
                      f"{label}: Withdraw 1", f"{label}: GPC 1"]
    assert "8 receipts in all: accept all 3 (37.5 %), reject all 2 (25.0 %)" in svg
    # The purposes: among the receipts that decided on each, the share that granted it.
    _, *summary = found["rates-summary"]
    assert summary == [
        ["necessary (required)", "8", "8", "100.0 %"],
        ["preferences", "8", "3", "37.5 %"],
        ["statistics", "8", "5", "62.5 %"],
        ["marketing", "8", "3", "37.5 %"],
    ]
    # Per day, the purposes a visitor may refuse (a required one is always granted).
    assert found["rates-table"][0] == ["Day", "preferences", "statistics", "marketing"]
    assert found["rates-table"][-1] == [today.isoformat(), "37.5 % 3 of 8", "62.5 % 5 of 8",
                                        "37.5 % 3 of 8"]
    assert found["rates-table"][1][0].endswith("(29 days): no decisions")  # no rate
    assert f"{label}: 62.5 % granted (5 of 8)" in page
    # A small chart per purpose a visitor may refuse; none for the required one.
    assert page.count('aria-labelledby="rate-') == 6  # each wide, and drawn for a phone
    assert page.count('aria-labelledby="rate-1-narrow-title rate-1-narrow-desc"') == 1
    # Nothing the CSP refuses: no inline style, no inline script.
    assert "style=" not in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/admin/static/admin.js" defer>']


async def test_by_week_and_a_chosen_range(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    await _posted(client, site.key)
    await sign_in(client, (await staff_member("viewer")).email)
    today = utcnow().date()
    start = today - timedelta(days=20)
    r = await client.get(f"/admin/sites/{site.key}/analytics",
                         params={"from": start.isoformat(), "to": today.isoformat(),
                                 "bucket": "week"})
    assert r.status_code == 200
    head, *rows, foot = tables(r.text)["outcomes-table"]
    assert head[0] == "Week"
    monday = today - timedelta(days=today.weekday())
    assert rows[-1] == [f"{monday.isoformat()} – {today.isoformat()}", "3", "2", "1", "1", "1",
                        "8"]
    assert rows[0][0].startswith(f"{start.isoformat()} – ")  # the range's part of its week
    assert foot[-1] == "8"
    assert 'selected>Week' in r.text.replace('"week" selected', 'selected')
    # A range without receipts says so.
    empty = await client.get(f"/admin/sites/{site.key}/analytics",
                             params={"from": "2020-01-01", "to": "2020-01-31"})
    assert empty.status_code == 200
    assert re.search(r"No receipts from <time[^>]*>2020-01-01</time> to <time[^>]*>2020-01-31<",
                     empty.text)
    assert "outcomes-table" not in empty.text


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2026-02-30"}, "from", "2026-02-30 is no date in the calendar."),
        ({"from": "yesterday"}, "from", "Give a date as YYYY-MM-DD"),
        ({"to": "2026-1-5"}, "to", "Give a date as YYYY-MM-DD"),
        ({"from": "1999-12-31"}, "from", "Give a date from 2000-01-01 to 2100-12-31."),
        ({"to": "99999-01-01"}, "to", "Give a date as YYYY-MM-DD"),
        ({"from": "2026-01-01\x00"}, "from", "Give a date as YYYY-MM-DD"),
        ({"from": "٢٠٢٦-٠١-٠١"}, "from", "Give a date as YYYY-MM-DD"),  # Arabic-Indic digits
        ({"from": "2" * 5_000}, "from", "Give a date as YYYY-MM-DD"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to", "on or after the first day"),
        ({"bucket": "month"}, "bucket", "Choose by day or by week."),
        ({"from": "2024-01-01", "to": "2025-01-01"}, "bucket",
         "By day, at most 366 days fit: this range has 367. Choose a shorter range or by week."),
        ({"from": "2000-01-01", "to": "2100-12-31", "bucket": "week"}, "bucket",
         "By week, at most 530 weeks fit"),
    ],
)
async def test_a_bad_range_is_answered_beside_its_field(
    app: Starlette, client: httpx.AsyncClient, params: dict[str, str], field: str, message: str
) -> None:
    site, _ = await published_site()
    await sign_in(client, (await staff_member("viewer")).email)
    r = await client.get(f"/admin/sites/{site.key}/analytics", params=params)
    assert r.status_code == 422
    error = re.search(rf'<p class="field-error" id="e-{field}">([^<]*)</p>', r.text)
    assert error is not None and message in error.group(1).replace("&#39;", "'"), r.text[-2000:]
    assert f'aria-describedby="e-{field}"' in r.text
    assert "<svg class=\"chart\"" not in r.text
    assert len(r.text) < 20_000  # a value typed is shown back cut short


async def test_a_year_by_day_and_ten_years_by_week_fit(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await _posted(client, site.key)
    await sign_in(client, (await staff_member("viewer")).email)
    today = utcnow().date()
    year = await client.get(f"/admin/sites/{site.key}/analytics", params={
        "from": (today - timedelta(days=365)).isoformat(), "to": today.isoformat()})
    assert year.status_code == 200
    head, quiet, last, foot = tables(year.text)["outcomes-table"]
    assert quiet[0].endswith("(365 days): no receipts") and last[0] == today.isoformat()
    decade = await client.get(f"/admin/sites/{site.key}/analytics", params={
        "from": (today - timedelta(days=3650)).isoformat(), "to": today.isoformat(),
        "bucket": "week"})
    assert decade.status_code == 200
    assert tables(decade.text)["outcomes-table"][-1][-1] == "8"


async def test_the_site_name_is_text_in_the_chart(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    payload = '<script>window.pwned=1</script>"&'
    site, _ = await published_site(payload)
    await _post(client, site.key, "accept_all", ALL)
    await sign_in(client, (await staff_member("viewer")).email)
    r = await client.get(f"/admin/sites/{site.key}/analytics")
    assert r.status_code == 200
    assert "<script>" not in r.text
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;&#34;&amp;" in r.text


async def test_an_unknown_site_is_404(app: Starlette, client: httpx.AsyncClient) -> None:
    await sign_in(client, (await staff_member("viewer")).email)
    r = await client.get("/admin/sites/no-such-site/analytics")
    assert r.status_code == 404


def test_the_day_range_limit_matches_a_leap_year() -> None:
    from admin.analytics import RangeQuery

    query = RangeQuery.model_validate({"from": "2024-01-01", "to": "2024-12-31"})
    assert (query.start, query.end, query.bucket) == (date(2024, 1, 1), date(2024, 12, 31), "day")

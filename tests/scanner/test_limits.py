"""A scanned page controls how much it stores: the scan records up to its limits
(``ScanLimits``) and the report says which limit was reached and how much it left out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scanner import (
    LimitHit,
    ReportItem,
    ScanLimits,
    ScanOptions,
    ScanReport,
    limit_report,
    scan_site,
)
from tests.scanner.fakeweb import FakeWeb, Route

# 5,000 localStorage and 5,000 sessionStorage keys, each name longer than a value may be.
HOSTILE = """<!doctype html><title>Hostile</title><script>
for (let i = 0; i < 5000; i++) {
  localStorage.setItem("ls-" + i + "-" + "x".repeat(__LONG__), "v");
  sessionStorage.setItem("ss-" + i, "v");
}
</script>"""


def _hits(report: ScanReport, limit: str) -> list[LimitHit]:
    return [h for h in report.limits if h.limit == limit]


@pytest.mark.browser
async def test_a_page_writing_ten_thousand_keys_is_recorded_up_to_the_limits(
    web: FakeWeb,
) -> None:
    web.add("hostile.test", "/", Route(HOSTILE.replace("__LONG__", "200")))
    limits = ScanLimits(items_per_pass=150, storage_keys_per_origin=100, value_chars=64,
                        report_bytes=10_000_000, requests_per_pass=5000)
    report = await scan_site(ScanOptions(
        start_url=web.url("hostile.test", "/"), max_pages=1, passes=("none", "reject"),
        settle=0.2, idle_timeout=0.5, ignore_https_errors=True, use_sitemap=False,
        browser_args=web.browser_args, limits=limits,
    ))
    storage = [i for i in report.items if i.kind in ("localStorage", "sessionStorage")]
    assert 0 < len(storage) <= 100
    assert all(len(i.name) <= 64 for i in report.items)
    per_origin = _hits(report, "storage_keys_per_origin")
    assert {h.pass_ for h in per_origin} == {"none", "reject"}
    for hit in per_origin:
        assert hit.where == "hostile.test" and hit.value == 100
        # 10,000 names on the page, 100 kept: the rest were left out, and said so.
        assert hit.left_out == 10_000 - 100
    assert {h.pass_ for h in _hits(report, "value_chars")} == {"none", "reject"}
    assert all(h.left_out > 0 for h in _hits(report, "value_chars"))


@pytest.mark.browser
async def test_items_per_pass_bounds_many_origins_together(web: FakeWeb) -> None:
    frames = "".join(
        f'<iframe src="{web.url(f"o{i}.hostile.test", "/keys")}" title="f{i}"></iframe>'
        for i in range(4)
    )
    web.add("hostile.test", "/frames", Route(f"<!doctype html><title>Frames</title>{frames}"))
    for i in range(4):
        web.add(f"o{i}.hostile.test", "/keys", Route(
            "<!doctype html><script>for (let k = 0; k < 50; k++) "
            "localStorage.setItem('k' + k, '1');</script>"))
    limits = ScanLimits(items_per_pass=120, storage_keys_per_origin=200)
    report = await scan_site(ScanOptions(
        start_url=web.url("hostile.test", "/frames"), max_pages=1, passes=("none",),
        settle=0.3, idle_timeout=0.5, ignore_https_errors=True, use_sitemap=False,
        browser_args=web.browser_args, limits=limits,
    ))
    assert len(report.items) <= 120
    (hit,) = _hits(report, "items_per_pass")
    assert hit.pass_ == "none" and hit.left_out == 4 * 50 - len(report.items)


def _item(n: int) -> ReportItem:
    return ReportItem(
        kind="localStorage", name=f"key-{n}-" + "n" * 200, domain="hostile.test", path=None,
        party="first", vendor=None, category="unclassified", passes=("none",),
        first_seen_url="https://hostile.test/", set_by="script", initiator=None,
        expires_days=None, http_only=None, secure=None, same_site=None,
    )


def test_a_report_over_its_size_is_cut_and_says_so() -> None:
    now = datetime.now(UTC)
    report = ScanReport(start_url="https://hostile.test/", started_at=now, finished_at=now,
                        pages=(), items=tuple(_item(n) for n in range(3000)), requests=(),
                        violations=(), passes=("none",))
    limits = ScanLimits(items_per_pass=2000, report_bytes=100_000)
    cut = limit_report(report, limits)
    assert len(cut.model_dump_json()) <= 100_000
    by_limit = {h.limit: h for h in cut.limits}
    assert by_limit["items_per_pass"].left_out == 1000
    assert by_limit["report_bytes"].where == "items"
    assert by_limit["report_bytes"].left_out == 2000 - len(cut.items)
    # Within its limits a report is left as it was.
    assert limit_report(cut, limits) == cut

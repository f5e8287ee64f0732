"""Progress counts the pages of the pass in progress and says which pass it is: issue 19 saw
"0 of 30 pages" (the budget, while the first pass found the pages) jump to "1 of 3 pages"."""

from __future__ import annotations

import pytest

from scanner import ScanOptions, ScanProgress, scan_site
from tests.scanner.fakeweb import FakeWeb

pytestmark = pytest.mark.browser


async def test_each_event_says_its_pass_and_counts_that_pass(web: FakeWeb) -> None:
    events: list[ScanProgress] = []
    options = ScanOptions(
        start_url=web.url("www.shop.test"), max_pages=30, passes=("none", "accept"), settle=0,
        idle_timeout=1, consent_timeout=3, ignore_https_errors=True,
        browser_args=web.browser_args,
    )
    report = await scan_site(options, events.append)
    pages = len({p.url for p in report.pages})
    assert 1 < pages < 30
    visits = [e for e in events if e.phase == "visit"]
    first = [e for e in visits if e.pass_ == "none"]
    second = [e for e in visits if e.pass_ == "accept"]
    assert {(e.pass_number, e.passes, e.discovering, e.pages_total) for e in first} == {
        (1, 2, True, 30)}
    assert {(e.pass_number, e.passes, e.discovering, e.pages_total) for e in second} == {
        (2, 2, False, pages)}
    assert [e.pages_done for e in second] == list(range(1, pages + 1))
    discover = next(e for e in events if e.phase == "discover")
    assert (discover.pass_number, discover.discovering, discover.pages_total) == (1, True, 30)

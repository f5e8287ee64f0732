"""What our banner held back (``window.cmp.blocked()``) goes into the report per pass and page,
bounded: the page wrote that list, and a page may write anything there. The real embed's
list: tests/test_scan_proves.py."""

from __future__ import annotations

import pytest

from scanner import ScanOptions, ScanReport, scan_site
from scanner._held import MAX_PER_PAGE, MAX_TOTAL, MAX_URL, consent_blocking, parse_entries
from scanner._records import HeldRecord, PassCapture
from tests.scanner.fakeweb import FakeWeb, Route

pytestmark = pytest.mark.browser

HOST = "www.held.test"
# A banner shaped like ours as the scanner sees it: held until accepted, then released; the
# list also carries junk a hostile or broken page could return, and more than a page's share.
_BANNER = """<script>
(function () {
  var accepted = /held_consent=all/.test(document.cookie);
  var entries = [
    {url: "https://connect.facebook.net/en_US/fbevents.js", type: "script",
     purposes: ["marketing"], rule: {host: "Connect.Facebook.net", path: ""}, state: "held"},
    {url: "https://px.test/" + "a".repeat(5000), type: "img",
     purposes: ["marketing", "x".repeat(300), 7].concat(new Array(40).fill("p")),
     rule: {host: "px.test", path: "/"}, state: "held"},
    {url: "javascript:alert(1)", type: "script", purposes: [], rule: {host: "a.test"},
     state: "held"},
    {url: "https://a.test/w.js", type: "worker", purposes: [], rule: {host: "a.test"},
     state: "held"},
    {url: "https://a.test/s.js", type: "script", purposes: [], rule: {host: "a.test"},
     state: "pending"},
    {url: "https://a.test/n.js", type: "script", purposes: [], rule: null, state: "held"},
    "a string", null, 42,
  ];
  var thrower = {type: "script", state: "held"};
  Object.defineProperty(thrower, "url", {get: function () { throw new Error("no"); }});
  entries.push(thrower);
  for (var i = 0; i < 300; i++) {
    entries.push({url: "https://filler.test/" + i, type: "beacon", purposes: ["statistics"],
                  rule: {host: "filler.test", path: ""}, state: "held"});
  }
  function choose(v) {
    document.cookie = "held_consent=" + v + "; path=/";
    if (v === "all") entries.forEach(function (e) { if (e && e.state) e.state = "released"; });
    return Promise.resolve();
  }
  window.cmp = {
    acceptAll: function () { return choose("all"); },
    rejectAll: function () { return choose("none"); },
    blocked: function () { return accepted ? [] : entries; },
  };
})();
</script>"""
# A page whose blocked() throws, and one whose cmp is no object at all.
_THROWS = "<script>window.cmp = {blocked: function () { throw new Error('x'); }};</script>"


def _page(head: str, body: str = "") -> Route:
    return Route(f"<!doctype html><html><head><title>t</title>{head}</head>"
                 f"<body>{body}</body></html>")


@pytest.fixture(scope="module")
async def report(web: FakeWeb) -> ScanReport:
    web.add(HOST, "/", _page(_BANNER, "<a href='/throws'>x</a> <a href='/plain'>y</a>"))
    web.add(HOST, "/throws", _page(_THROWS))
    web.add(HOST, "/plain", _page("<script>window.cmp = 'not ours';</script>"))
    options = ScanOptions(
        start_url=web.url(HOST), max_pages=3, passes=("none", "accept"), settle=0,
        idle_timeout=1, consent_timeout=3, ignore_https_errors=True, use_sitemap=False,
        browser_args=web.browser_args,
    )
    return await scan_site(options)


def test_each_pass_and_page_is_read_and_bounded(report: ScanReport, web: FakeWeb) -> None:
    home = web.url(HOST)
    none = [e for e in report.consent_blocking if e.pass_ == "none"]
    assert {e.page_url for e in none} == {home}  # the other pages listed nothing
    # The page's first 100 entries, less those not of the contract's shape.
    assert 0 < len(none) <= MAX_PER_PAGE
    urls = [e.url for e in none]
    assert urls[0] == "https://connect.facebook.net/en_US/fbevents.js"
    assert none[0].rule_host == "connect.facebook.net" and none[0].purposes == ("marketing",)
    long = none[1]
    assert len(long.url) == MAX_URL and long.type == "img"
    assert len(long.purposes) <= 20 and all(len(p) <= 64 for p in long.purposes)
    assert not any(u.startswith("javascript:") or u.startswith("https://a.test/") for u in urls)
    assert urls[2:] == [f"https://filler.test/{i}" for i in range(len(urls) - 2)]
    assert {e.state for e in none} == {"held"}


def test_the_accept_pass_reads_after_the_answer(report: ScanReport) -> None:
    accept = [e for e in report.consent_blocking if e.pass_ == "accept"]
    assert report.consent["accept"] == "cmp"
    assert accept and {e.state for e in accept} == {"released"}


def test_the_report_keeps_each_entry_once_and_at_most_its_share() -> None:
    record = HeldRecord("https://s.test/", "https://v.test/a.js", "script", ("marketing",),
                        "v.test", "", "held")
    twice = PassCapture("none", (), (), (), (), (), "not asked", held=(record, record))
    assert len(consent_blocking([twice])) == 1
    many = tuple(HeldRecord("https://s.test/", f"https://v.test/{i}", "img", (), "v.test", "",
                            "held") for i in range(MAX_PER_PAGE))
    captures = [PassCapture("none", (), (), (), (), (), "", held=many)
                for _ in range(MAX_TOTAL // MAX_PER_PAGE + 5)]
    # The same entries on the same page in one pass: once.
    assert len(consent_blocking(captures)) == MAX_PER_PAGE
    pages = [PassCapture("none", (), (), (), (), (), "", held=tuple(
        HeldRecord(f"https://s.test/{p}", r.url, r.type, (), r.rule_host, "", "held")
        for r in many)) for p in range(MAX_TOTAL // MAX_PER_PAGE + 5)]
    assert len(consent_blocking(pages)) == MAX_TOTAL


def test_parse_entries_refuses_what_is_not_the_contract() -> None:
    assert parse_entries("nope", "https://s.test/") == []
    assert parse_entries([{"url": "https://v.test/", "type": "script", "state": "held"}],
                         "https://s.test/") == []  # no rule host
    (ok,) = parse_entries([{"url": "https://v.test/", "type": "xhr", "state": "dropped",
                            "host": "V.test", "path": "/x", "purposes": ["a", "a", "", 3]}],
                          "https://s.test/")
    assert (ok.rule_host, ok.rule_path, ok.purposes) == ("v.test", "/x", ("a",))

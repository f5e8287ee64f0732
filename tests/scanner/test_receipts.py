"""A scan's choices never become consent receipts (``scanner/_receipts.js``): the receipt post
of our embed is answered in the page and never reaches a server; other posts still go out.
The end-to-end check against the real tag and server is in tests/admin/test_browser_scans.py."""

import pytest

from scanner import ScanOptions, scan_site
from tests.scanner.fakeweb import FakeWeb, Route

pytestmark = pytest.mark.browser

HOST = "www.receipts.test"
CMP = "consent.receipts.test"
# Our embed's way of sending (fetch, text/plain, keepalive), the beacon fallback, and a post
# elsewhere on the same server that must still be sent. What each got back is written to
# localStorage, where the scan finds it as an item.
PAGE = """<!doctype html><html lang="en"><head><title>Receipts</title><script>
const api = "https://consent.receipts.test:__PORT__/v1/sites/demo";
window.cmp = { acceptAll() {
  const body = JSON.stringify({ receipt_id: "r1", consent_id: "c1", method: "accept_all" });
  fetch(api + "/consents", { method: "POST", body, keepalive: true, mode: "cors",
                             headers: { "Content-Type": "text/plain" } })
    .then((r) => r.json().then((j) => localStorage.setItem(
      "receipt_" + r.status + "_" + j.consent_id + "_" + j.recorded, "1")));
  fetch(new Request(api + "/consents/", { method: "POST", body }))
    .then((r) => localStorage.setItem("request_" + r.status, "1"));
  localStorage.setItem("beacon_" + navigator.sendBeacon(api + "/consents", body), "1");
  fetch(api + "/other", { method: "POST", body: "x", mode: "no-cors" });
  fetch(api + "/consents/c1").catch(() => {});
  return Promise.resolve();
}, rejectAll() { return Promise.resolve(); } };
</script></head><body><h1>Receipts</h1></body></html>"""


async def test_receipt_posts_are_answered_in_the_page(web: FakeWeb) -> None:
    web.add(HOST, "/", Route(PAGE))
    for path in ("/v1/sites/demo/consents", "/v1/sites/demo/consents/", "/v1/sites/demo/other",
                 "/v1/sites/demo/consents/c1"):
        web.add(CMP, path, Route("{}", "application/json",
                                 headers=(("Access-Control-Allow-Origin", "*"),)))
    options = ScanOptions(
        start_url=web.url(HOST), max_pages=1, settle=0.5, idle_timeout=1, consent_timeout=2,
        ignore_https_errors=True, browser_args=web.browser_args, passes=("accept",),
        use_sitemap=False,
    )
    report = await scan_site(options)
    assert report.consent == {"accept": "cmp"}
    stored = {i.name for i in report.items if i.kind == "localStorage"}
    # The page was answered as the server answers a stored receipt, with nothing recorded.
    assert {"receipt_201_c1_false", "request_201", "beacon_true"} <= stored, stored
    sent = [path for host, path in web.log if host == CMP]
    assert "/v1/sites/demo/other" in sent  # other posts go out as before
    assert "/v1/sites/demo/consents/c1" in sent  # and so does reading one's own receipts
    assert not {"/v1/sites/demo/consents", "/v1/sites/demo/consents/"} & set(sent), sent

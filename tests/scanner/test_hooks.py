"""The write hooks keep working when a page replaces the globals they use."""

import pytest

from scanner import ScanOptions, scan_site
from tests.scanner.fakeweb import FakeWeb

pytestmark = pytest.mark.browser


async def test_writes_are_attributed_on_a_hostile_page(web: FakeWeb) -> None:
    options = ScanOptions(
        start_url=web.url("www.hostile.test"), max_pages=1, settle=0, idle_timeout=1,
        ignore_https_errors=True, browser_args=web.browser_args, passes=("none",),
        use_sitemap=False,
    )
    report = await scan_site(options)
    items = {(i.kind, i.name): i for i in report.items}
    app = web.url("www.hostile.test", "/app.js")
    theme = items[("cookie", "zz_theme")]
    assert (theme.set_by, theme.initiator, theme.category) == ("script", app, "unclassified")
    cart = items[("localStorage", "zz_cart")]
    assert (cart.initiator, cart.domain, cart.party) == (app, "www.hostile.test", "first")

import gzip

from scanner._site import (
    in_site,
    normalize_url,
    parse_robots_sitemaps,
    parse_sitemap,
    registrable_domain,
)


def test_registrable_domain_uses_the_public_suffix_list() -> None:
    assert registrable_domain("www.example.co.uk") == "example.co.uk"
    assert registrable_domain("a.b.example.com") == "example.com"
    assert registrable_domain("foo.github.io") == "foo.github.io"  # a private suffix
    # Unknown TLDs (test hosts, intranets) act as the suffix, as in Chromium.
    assert registrable_domain("www.shop.test") == "shop.test"
    assert registrable_domain("127.0.0.1") == "127.0.0.1"


def test_in_site_covers_subdomains_and_cookie_domains() -> None:
    assert in_site(".shop.test", "shop.test")
    assert in_site("cdn.www.shop.test", "shop.test")
    assert not in_site("myshop.test", "shop.test")
    assert not in_site(".facebook.com", "shop.test")


def test_normalize_url() -> None:
    assert normalize_url("/a#x", "https://Www.Shop.test:443/b") == "https://www.shop.test/a"
    assert normalize_url("https://h.test:8443") == "https://h.test:8443/"
    assert normalize_url("mailto:x@y.z") is None
    assert normalize_url("/brochure.PDF", "https://h.test/") is None


def test_sitemap_and_index() -> None:
    urlset = (b"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
              b"<url><loc> https://h.test/a?x=1&amp;y=2 </loc></url></urlset>")
    assert parse_sitemap(urlset) == (["https://h.test/a?x=1&y=2"], [])
    index = b"<sitemapindex><sitemap><loc>https://h.test/s1.xml</loc></sitemap></sitemapindex>"
    assert parse_sitemap(index) == ([], ["https://h.test/s1.xml"])
    assert parse_sitemap(gzip.compress(urlset))[0] == ["https://h.test/a?x=1&y=2"]


def test_robots_sitemap_lines() -> None:
    robots = b"User-agent: *\nDisallow:\nSitemap: https://h.test/s.xml\nsitemap:https://h.test/t.xml"
    assert parse_robots_sitemaps(robots) == ["https://h.test/s.xml", "https://h.test/t.xml"]

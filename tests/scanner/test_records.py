import pytest

from scanner._records import initiator_from_stack, parse_cookie_line

NOW = 1_700_000_000.0


def test_set_cookie_attributes() -> None:
    fields = parse_cookie_line(
        "fr=1; Domain=.facebook.com; Path=/; Max-Age=7776000; HttpOnly; Secure; SameSite=None",
        request_host="www.facebook.com", now=NOW,
    )
    assert fields is not None
    assert (fields.name, fields.host, fields.domain_cookie) == ("fr", "facebook.com", True)
    assert fields.http_only and fields.secure and fields.same_site == "None"
    assert fields.expires_days == 90.0 and not fields.deleted


def test_deletion_is_not_a_cookie_being_set() -> None:
    fields = parse_cookie_line("_ga=; expires=Thu, 01 Jan 1970 00:00:01 GMT; path=/",
                               request_host="www.shop.test", now=NOW)
    assert fields is not None and fields.deleted
    zero = parse_cookie_line("x=1; max-age=0", request_host="h.test", now=NOW)
    assert zero is not None and zero.deleted


def test_foreign_domain_attribute_is_refused_like_the_browser_does() -> None:
    parsed = parse_cookie_line("x=1; domain=other.test", request_host="www.shop.test")
    assert parsed is not None
    assert parsed.refused == "domain .other.test does not cover www.shop.test"


@pytest.mark.parametrize(
    ("line", "host", "reason"),
    [
        ("_ga=1; domain=.se; path=/", "www.butik.se", "domain .se is a public suffix"),
        ("_ga=1; domain=co.uk", "www.shop.co.uk", "domain .co.uk is a public suffix"),
        ("_ga=1; domain=.uk", "www.shop.co.uk", "domain .uk is a public suffix"),
        ("_ga=1; domain=.github.io", "me.github.io", "domain .github.io is a public suffix"),
        ("_ga=1; domain=.test", "www.shop.test", "domain .test is a public suffix"),
        ("_ga=1; domain=.butik.se", "www.butik.se", None),
        ("_ga=1; domain=shop.co.uk", "www.shop.co.uk", None),
        ("id=1; SameSite=None", "ads.test", "SameSite=None without Secure"),
        ("id=1; SameSite=None; Secure", "ads.test", None),
        ("__Host-id=1; Secure; Path=/; Domain=shop.test", "www.shop.test",
         "__Host- prefix without Secure, Path=/ and no Domain"),
        ("__Host-id=1; Secure; Path=/", "www.shop.test", None),
        ("__Secure-id=1", "www.shop.test", "__Secure- prefix without Secure"),
    ],
)
def test_writes_chromium_refuses(line: str, host: str, reason: str | None) -> None:
    parsed = parse_cookie_line(line, request_host=host)
    assert parsed is not None and parsed.refused == reason


def test_secure_from_an_insecure_page_is_refused() -> None:
    parsed = parse_cookie_line("a=1; Secure", request_host="shop.test", secure_origin=False)
    assert parsed is not None and parsed.refused == "Secure from an insecure page"


def test_a_public_suffix_that_is_the_host_gives_a_host_only_cookie() -> None:
    parsed = parse_cookie_line("a=1; domain=github.io", request_host="github.io")
    assert parsed is not None and parsed.refused is None and not parsed.domain_cookie


def test_initiator_is_the_innermost_script() -> None:
    stack = (
        "Error\n    at HTMLDocument.set (<anonymous>:60:21)\n"
        "    at https://www.googletagmanager.com/gtag/js?id=G-1:2:30\n"
        "    at Array.forEach (<anonymous>)\n"
        "    at loader (https://www.shop.test/:12:5)"
    )
    assert initiator_from_stack(stack) == "https://www.googletagmanager.com/gtag/js?id=G-1"
    assert initiator_from_stack("Error\n    at <anonymous>:1:1") is None

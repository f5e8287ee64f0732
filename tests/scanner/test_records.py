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
    assert parse_cookie_line("x=1; domain=other.test", request_host="www.shop.test") is None


def test_initiator_is_the_innermost_script() -> None:
    stack = (
        "Error\n    at HTMLDocument.set (<anonymous>:60:21)\n"
        "    at https://www.googletagmanager.com/gtag/js?id=G-1:2:30\n"
        "    at Array.forEach (<anonymous>)\n"
        "    at loader (https://www.shop.test/:12:5)"
    )
    assert initiator_from_stack(stack) == "https://www.googletagmanager.com/gtag/js?id=G-1"
    assert initiator_from_stack("Error\n    at <anonymous>:1:1") is None

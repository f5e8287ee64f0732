"""The inspect stage alone, on hand-made observations and the built-in knowledge base."""

from scanner._inspect import inspect
from scanner._records import (
    NOT_KEPT,
    CookieRecord,
    CookieWrite,
    PassCapture,
    RequestRecord,
    StorageRecord,
)
from scanner.kb import KnowledgeBase

PAGE = "https://www.shop.test/"
GTAG = "https://www.googletagmanager.com/gtag/js?id=G-1"


def _capture(name, cookies=(), writes=(), storage=(), requests=()):  # type: ignore[no-untyped-def]
    return PassCapture(name, (), tuple(cookies), tuple(writes), tuple(storage), tuple(requests),
                       "not asked")


def _cookie(name: str, domain: str) -> CookieRecord:
    return CookieRecord(name, domain, "/", -1, False, False, "Lax", PAGE)


def _write(name: str, host: str, initiator: str | None) -> CookieWrite:
    return CookieWrite(name, host, True, "/", "script", initiator, PAGE, 10.0, False, None,
                       False, False, None)


def test_name_match_wins_and_is_a_violation_before_consent() -> None:
    kb = KnowledgeBase.builtin()
    found = inspect(
        [_capture("none", [_cookie("_ga", ".shop.test")], [_write("_ga", "shop.test", GTAG)])],
        kb, {"shop.test"},
    )
    (item,), violations = found.items, found.violations
    assert (item.vendor, item.category, item.attributed_by) == (
        "google-analytics", "statistics", "name")
    assert (item.party, item.set_by, item.initiator) == ("first", "script", GTAG)
    assert [(v.pass_, v.name, v.category) for v in violations] == [("none", "_ga", "statistics")]


def test_unknown_name_is_attributed_by_the_writing_script() -> None:
    kb = KnowledgeBase.builtin()
    items = inspect(
        [_capture("accept", [_cookie("zz_custom", ".shop.test")],
                  [_write("zz_custom", "shop.test", GTAG)])],
        kb, {"shop.test"},
    ).items
    assert (items[0].vendor, items[0].attributed_by) == ("google-analytics", "script-host")


def test_unidentified_item_is_a_possible_violation_not_a_violation() -> None:
    kb = KnowledgeBase.builtin()
    found = inspect(
        [_capture("reject", [_cookie("zz_mystery", "www.shop.test")])], kb, {"shop.test"}
    )
    assert (found.items[0].vendor, found.items[0].category, found.items[0].set_by) == (
        None, "unclassified", "unknown")
    assert found.violations == []
    (review,) = found.review
    assert (review.pass_, review.name, review.category) == ("reject", "zz_mystery", "unclassified")
    assert review.reason == (
        "unclassified cookie set after the visitor rejected: possible violation")


def test_the_sites_own_writes_name_the_site_and_stay_for_review() -> None:
    kb = KnowledgeBase.builtin()
    own_script = _write("zz_pref", "shop.test", "https://www.shop.test/js/app.js")
    own_server = CookieWrite("zz_sess", "www.shop.test", False, "/", "http", PAGE, PAGE, None,
                             False, None, True, True, "Lax")
    storage = StorageRecord("localStorage", "zz_cart", "www.shop.test", PAGE,
                            "https://static.shop.test/app.js")
    found = inspect(
        [_capture("none", [_cookie("zz_pref", ".shop.test"), _cookie("zz_sess", "www.shop.test")],
                  [own_script, own_server], [storage])],
        kb, {"shop.test"},
    )
    got = {i.name: (i.vendor, i.vendor_name, i.attributed_by, i.category) for i in found.items}
    assert got == {name: ("shop.test", "shop.test", "first-party", "unclassified")
                   for name in ("zz_pref", "zz_sess", "zz_cart")}
    assert found.violations == [] and {r.name for r in found.review} == set(got)


def test_the_knowledge_base_beats_first_party_origin() -> None:
    kb = KnowledgeBase.builtin()
    session = CookieWrite("PHPSESSID", "www.shop.test", False, "/", "http", PAGE, PAGE, None,
                          False, None, True, False, "Lax")
    (item,) = inspect(
        [_capture("none", [_cookie("PHPSESSID", "www.shop.test")], [session])], kb, {"shop.test"}
    ).items
    assert (item.vendor, item.category, item.attributed_by) == ("php", "necessary", "name")


def test_a_refused_write_is_never_an_item() -> None:
    kb = KnowledgeBase.builtin()
    # _ga is in the jar on .shop.co.uk; the tag also tried .co.uk (refused) and a value the
    # jar did not take (the hook saw document.cookie unchanged).
    wide = CookieWrite("_ga", "co.uk", True, "/", "script", GTAG, PAGE, 730.0, False,
                       "domain .co.uk is a public suffix", False, False, None)
    gone = CookieWrite("_gid", "shop.co.uk", True, "/", "script", GTAG, PAGE, 1.0, False,
                       NOT_KEPT, False, False, None)
    found = inspect(
        [_capture("none", [_cookie("_ga", ".shop.co.uk")],
                  [wide, _write("_ga", "shop.co.uk", GTAG), gone])],
        kb, {"shop.co.uk"},
    )
    assert [(i.name, i.domain) for i in found.items] == [("_ga", ".shop.co.uk")]
    assert [(v.name, v.domain) for v in found.violations] == [("_ga", ".shop.co.uk")]
    assert {(r.name, r.domain, r.reason) for r in found.refused} == {
        ("_ga", ".co.uk", "domain .co.uk is a public suffix"),
        ("_gid", ".shop.co.uk", NOT_KEPT),
    }


def test_a_set_cookie_the_jar_never_held_is_refused() -> None:
    kb = KnowledgeBase.builtin()
    pixel = CookieWrite("uid", "ads.example", False, "/", "http", "https://ads.example/px.gif",
                        PAGE, 365.0, False, None, False, True, None)
    found = inspect([_capture("none", writes=[pixel])], kb, {"shop.test"})
    assert found.items == []
    (refused,) = found.refused
    assert refused.reason == "SameSite=Lax (the default) in a cross-site response"


def test_accept_pass_is_never_a_violation_and_storage_keeps_its_origin() -> None:
    kb = KnowledgeBase.builtin()
    storage = StorageRecord("localStorage", "yt-remote-device-id", "www.youtube.com", PAGE, None)
    request = RequestRecord("https://region1.google-analytics.com/g/collect?v=2",
                            "region1.google-analytics.com", "/g/collect", "ping", PAGE)
    found = inspect(
        [_capture("accept", storage=[storage], requests=[request])], kb, {"shop.test"}
    )
    items, requests, violations = found.items, found.requests, found.violations
    assert (items[0].kind, items[0].domain, items[0].party, items[0].vendor) == (
        "localStorage", "www.youtube.com", "third", "youtube")
    assert (requests[0].host, requests[0].category, requests[0].passes) == (
        "region1.google-analytics.com", "statistics", ("accept",))
    assert violations == []


def test_transient_cookie_is_reported_and_deletions_are_not() -> None:
    kb = KnowledgeBase.builtin()
    deleted = CookieWrite("_ga", "shop.test", True, "/", "script", GTAG, PAGE, 0.0, True, None,
                          False, False, None)
    items = inspect(
        [_capture("none", writes=[_write("_hjTLDTest", "shop.test", None), deleted])],
        kb, {"shop.test"},
    ).items
    assert [(i.name, i.domain, i.set_by) for i in items] == [("_hjTLDTest", ".shop.test", "script")]


def test_consent_mode_ping_after_reject_is_named() -> None:
    kb = KnowledgeBase.builtin()
    ping = RequestRecord("https://region1.google-analytics.com/g/collect?v=2&gcs=G100",
                         "region1.google-analytics.com", "/g/collect", "ping", PAGE)
    violations = inspect([_capture("reject", requests=[ping])], kb, {"shop.test"}).violations
    assert "gcs=G100" in violations[0].reason and violations[0].kind == "request"

"""The inspect stage alone, on hand-made observations and the built-in knowledge base."""

from scanner._inspect import inspect
from scanner._records import CookieRecord, CookieWrite, PassCapture, RequestRecord, StorageRecord
from scanner.kb import KnowledgeBase

PAGE = "https://www.shop.test/"
GTAG = "https://www.googletagmanager.com/gtag/js?id=G-1"


def _capture(name, cookies=(), writes=(), storage=(), requests=()):  # type: ignore[no-untyped-def]
    return PassCapture(name, (), tuple(cookies), tuple(writes), tuple(storage), tuple(requests),
                       "not asked")


def _cookie(name: str, domain: str) -> CookieRecord:
    return CookieRecord(name, domain, "/", -1, False, False, "Lax", PAGE)


def _write(name: str, host: str, initiator: str | None) -> CookieWrite:
    return CookieWrite(name, host, True, "/", "script", initiator, PAGE, 10.0, False, True,
                       False, False, None)


def test_name_match_wins_and_is_a_violation_before_consent() -> None:
    kb = KnowledgeBase.builtin()
    items, _, violations = inspect(
        [_capture("none", [_cookie("_ga", ".shop.test")], [_write("_ga", "shop.test", GTAG)])],
        kb, {"shop.test"},
    )
    (item,) = items
    assert (item.vendor, item.category, item.attributed_by) == (
        "google-analytics", "statistics", "name")
    assert (item.party, item.set_by, item.initiator) == ("first", "script", GTAG)
    assert [(v.pass_, v.name, v.category) for v in violations] == [("none", "_ga", "statistics")]


def test_unknown_name_is_attributed_by_the_writing_script() -> None:
    kb = KnowledgeBase.builtin()
    items, _, _ = inspect(
        [_capture("accept", [_cookie("zz_custom", ".shop.test")],
                  [_write("zz_custom", "shop.test", GTAG)])],
        kb, {"shop.test"},
    )
    assert (items[0].vendor, items[0].attributed_by) == ("google-analytics", "initiator")


def test_unidentified_item_is_unclassified_and_flagged_for_review() -> None:
    kb = KnowledgeBase.builtin()
    items, _, violations = inspect(
        [_capture("reject", [_cookie("zz_mystery", "www.shop.test")])], kb, {"shop.test"}
    )
    assert (items[0].vendor, items[0].category, items[0].set_by) == (
        None, "unclassified", "unknown")
    reason = "unclassified item (review needed) set after the visitor rejected"
    assert violations[0].reason == reason


def test_accept_pass_is_never_a_violation_and_storage_keeps_its_origin() -> None:
    kb = KnowledgeBase.builtin()
    storage = StorageRecord("localStorage", "yt-remote-device-id", "www.youtube.com", PAGE, None)
    request = RequestRecord("https://region1.google-analytics.com/g/collect?v=2",
                            "region1.google-analytics.com", "/g/collect", "ping", PAGE)
    items, requests, violations = inspect(
        [_capture("accept", storage=[storage], requests=[request])], kb, {"shop.test"}
    )
    assert (items[0].kind, items[0].domain, items[0].party, items[0].vendor) == (
        "localStorage", "www.youtube.com", "third", "youtube")
    assert (requests[0].host, requests[0].category, requests[0].passes) == (
        "region1.google-analytics.com", "statistics", ("accept",))
    assert violations == []


def test_transient_cookie_is_reported_and_deletions_are_not() -> None:
    kb = KnowledgeBase.builtin()
    deleted = CookieWrite("_ga", "shop.test", True, "/", "script", GTAG, PAGE, 0.0, True, True,
                          False, False, None)
    items, _, _ = inspect(
        [_capture("none", writes=[_write("_hjTLDTest", "shop.test", None), deleted])],
        kb, {"shop.test"},
    )
    assert [(i.name, i.domain, i.set_by) for i in items] == [("_hjTLDTest", ".shop.test", "script")]


def test_consent_mode_ping_after_reject_is_named() -> None:
    kb = KnowledgeBase.builtin()
    ping = RequestRecord("https://region1.google-analytics.com/g/collect?v=2&gcs=G100",
                         "region1.google-analytics.com", "/g/collect", "ping", PAGE)
    _, _, violations = inspect([_capture("reject", requests=[ping])], kb, {"shop.test"})
    assert "gcs=G100" in violations[0].reason and violations[0].kind == "request"

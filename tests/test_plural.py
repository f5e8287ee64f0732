"""Counts and their nouns (``_utils.plural``, the admin's ``plural`` filter): "1 inventory
items" was on a page."""

from __future__ import annotations

from cmp_server._utils import plural
from cmp_server.services.scan_history import Progress


def test_one_is_singular_and_every_other_count_is_plural() -> None:
    assert plural(1, "item") == "1 item"
    assert plural(0, "item") == "0 items"
    assert plural(2_000, "entry", "entries") == "2,000 entries"
    assert plural(1, "text is", "texts are") == "1 text is"


def test_a_scans_progress_line_counts_one_page_as_one() -> None:
    one = Progress("crawl", "accept", 2, 3, 1, 1, None)
    assert one.line == "pass 2 of 3, 1 of 1 page"
    assert Progress("crawl", "accept", 2, 3, 1, 3, None).line == "pass 2 of 3, 1 of 3 pages"

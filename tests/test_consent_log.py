"""The consent log's service (``services/consent_log.py``): search with keyset pages, one
receipt as proof, a visitor's history. On SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette

from cmp_server._utils import canonical_json, sha256_hex, utcnow
from cmp_server.errors import ConsentNotFound, InvalidRequest, NotFound
from cmp_server.models import ConfigVersion, ConsentReceipt
from cmp_server.services import consent_log, publishing, sites
from cmp_server.services.consent_log import Cursor, ReceiptFilter

from .factories import bulk_receipts, published_site, send_receipt

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


async def _all_pages(site: object, where: ReceiptFilter, **kwargs: object) -> list[list[uuid.UUID]]:
    pages, after = [], None
    while True:
        page = await consent_log.search(site, where, after=after, **kwargs)  # type: ignore[arg-type]
        pages.append([r.receipt_id for r in page.receipts])
        if page.next is None:
            return pages
        after = page.next


async def test_pages_newest_first_without_gaps_or_repeats(app: Starlette) -> None:
    site, _ = await published_site()
    # 60 receipts sharing one instant (a writer batch shares its commit time) among 60 others.
    older = await bulk_receipts(site, 60, at=NOW - timedelta(hours=1), every=timedelta(seconds=1))
    same = await bulk_receipts(site, 60, at=NOW)
    pages = await _all_pages(site, ReceiptFilter(), limit=50)
    assert [len(p) for p in pages] == [50, 50, 20]
    seen = [r for p in pages for r in p]
    assert len(set(seen)) == 120
    assert set(seen[:60]) == set(same) and seen[60:] == older
    rows = {r.receipt_id: r for r in await ConsentReceipt.all()}
    keys = [(rows[r].recorded_at, rows[r].id) for r in seen]
    assert keys == sorted(keys, reverse=True)


async def test_date_range_is_from_inclusive_to_exclusive(app: Starlette) -> None:
    site, _ = await published_site()
    ids = await bulk_receipts(site, 5, at=NOW, every=timedelta(days=1))  # 15th .. 11th
    where = ReceiptFilter(start=NOW - timedelta(days=3), end=NOW)
    page = await consent_log.search(site, where)
    assert [r.receipt_id for r in page.receipts] == ids[1:4]
    assert page.next is None
    assert await consent_log.count(site, where) == 3


async def test_search_by_ids_stays_within_the_site(app: Starlette) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    visitor = uuid.uuid4()
    mine = await bulk_receipts(site, 1, consent_id=visitor)
    # (One first receipt per consent id, whatever the site: this one follows a purged one.)
    await bulk_receipts(other, 1, consent_id=visitor, previous_receipt_id=uuid.uuid4())
    await bulk_receipts(site, 3)
    page = await consent_log.search(site, ReceiptFilter(consent_id=visitor))
    assert [r.receipt_id for r in page.receipts] == mine
    page = await consent_log.search(site, ReceiptFilter(receipt_id=mine[0]))
    assert [r.receipt_id for r in page.receipts] == mine
    theirs = await ConsentReceipt.get(site_id=other.id)
    found = await consent_log.search(site, ReceiptFilter(receipt_id=theirs.receipt_id))
    assert found.receipts == []


async def test_method_language_and_purpose_decision(app: Starlette) -> None:
    site, _ = await published_site()
    granted = {"necessary": True, "statistics": True, "marketing": True}
    refused = {"necessary": True, "statistics": False, "marketing": False}
    accept = await bulk_receipts(site, 4, at=NOW, method="accept_all", choices=granted)
    await bulk_receipts(site, 3, at=NOW, method="reject_all", choices=refused)
    sv = await bulk_receipts(site, 2, at=NOW, method="reject_all", choices=refused, language="sv")
    custom = await bulk_receipts(site, 2, at=NOW, method="custom",
                                 choices={"necessary": True, "statistics": True,
                                          "marketing": False})
    cases = [
        (ReceiptFilter(method="accept_all"), set(accept)),
        (ReceiptFilter(language="sv"), set(sv)),
        (ReceiptFilter(purpose="statistics", granted=True), set(accept) | set(custom)),
        (ReceiptFilter(purpose="marketing", granted=False, method="custom"), set(custom)),
        (ReceiptFilter(purpose="marketing", granted=False, language="sv"), set(sv)),
        (ReceiptFilter(method="withdraw"), set()),
    ]
    for where, expected in cases:
        page = await consent_log.search(site, where)
        assert {r.receipt_id for r in page.receipts} == expected, where
        assert await consent_log.count(site, where) == len(expected), where


async def test_a_rare_match_is_searched_window_by_window(app: Starlette) -> None:
    site, _ = await published_site()
    await bulk_receipts(site, 30, at=NOW, every=timedelta(seconds=1))
    rare = await bulk_receipts(site, 1, at=NOW - timedelta(minutes=5), method="withdraw")
    await bulk_receipts(site, 30, at=NOW - timedelta(minutes=10), every=timedelta(seconds=1))
    where = ReceiptFilter(method="withdraw")
    first = await consent_log.search(site, where, window=20)
    # The window held 20 receipts, none a withdrawal: the page says how far back it looked.
    assert first.receipts == [] and first.next is not None
    assert first.searched_to == NOW - timedelta(seconds=19)
    second = await consent_log.search(site, where, after=first.next, window=20)
    assert [r.receipt_id for r in second.receipts] == rare
    pages = await _all_pages(site, where, window=20)
    assert [r for p in pages for r in p] == rare and len(pages) == 4  # 61 rows, 20 a window


def test_cursors_round_trip_and_refuse_anything_else() -> None:
    cursor = Cursor(datetime(2026, 3, 15, 12, 0, 0, 123456, tzinfo=UTC), 42)
    assert Cursor.parse(str(cursor)) == cursor
    for bad in ("", "1.2.3", "-1.5", "abc", "9" * 17 + ".1", "1." + "9" * 19, "1\x00.2"):
        with pytest.raises(InvalidRequest):
            Cursor.parse(bad)


def test_filters_are_checked() -> None:
    for kwargs in [
        {"method": "maybe"},
        {"language": "sv'; --"},
        {"purpose": "statistics"},
        {"granted": True},
        {"purpose": 'a"b', "granted": True},
        {"start": datetime(2026, 1, 1)},
        {"start": NOW, "end": NOW},
    ]:
        with pytest.raises(InvalidRequest):
            ReceiptFilter(**kwargs)  # type: ignore[arg-type]


async def test_a_receipt_with_its_chain_its_hash_and_the_texts_as_shown(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, version = await published_site()
    visitor = str(uuid.uuid4())
    first = await send_receipt(client, site.key, consent_id=visitor, language="sv")
    second = await send_receipt(client, site.key, consent_id=visitor, language="sv",
                                method="withdraw",
                                choices={"necessary": True, "preferences": False,
                                         "statistics": False, "marketing": False})
    third = await send_receipt(client, site.key, consent_id=visitor, language="en")
    # The draft changes after the visitor saw version 1: the proof shows version 1's words.
    await sites.update_site(site, texts={"sv": {"title": "Ett nytt utkast"}})
    proof = await consent_log.receipt_proof(site, second["receipt_id"])
    assert proof.check == "verified"
    assert proof.previous is not None and str(proof.previous.receipt_id) == first["receipt_id"]
    assert proof.next is not None and str(proof.next.receipt_id) == third["receipt_id"]
    assert proof.shown is not None and proof.shown.matches(proof.receipt)
    config = publishing.parse_config(version)
    assert proof.shown.texts == publishing.texts_for_language(config, "sv")
    assert proof.shown.texts["texts"]["title"] != "Ett nytt utkast"
    assert proof.shown.texts_hash == version.text_hashes["sv"] == proof.receipt.texts_hash
    assert (await consent_log.receipt_proof(site, first["receipt_id"])).previous is None
    last = await consent_log.receipt_proof(site, third["receipt_id"])
    assert last.next is None and last.check == "verified"
    assert last.shown is not None and last.shown.language == "en"
    assert last.shown.texts == publishing.texts_for_language(config, "en")


async def test_a_later_version_does_not_change_what_an_earlier_receipt_shows(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    before = await send_receipt(client, site.key, language="en")
    await sites.update_site(site, texts={"en": {"title": "Cookies, version two"}})
    await publishing.publish(site)
    after = await send_receipt(client, site.key, version=2, language="en")
    old = await consent_log.receipt_proof(site, before["receipt_id"])
    new = await consent_log.receipt_proof(site, after["receipt_id"])
    assert old.shown is not None and new.shown is not None
    assert old.shown.version == 1 and old.shown.texts["texts"]["title"] != "Cookies, version two"
    assert new.shown.version == 2 and new.shown.texts["texts"]["title"] == "Cookies, version two"
    assert old.shown.matches(old.receipt) and new.shown.matches(new.receipt)
    assert old.receipt.texts_hash != new.receipt.texts_hash


async def test_what_does_not_verify_says_so(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    # Stored without the writer: the record hash is not the one its fields give.
    forged = await bulk_receipts(site, 1, texts_hash="0" * 64)
    proof = await consent_log.receipt_proof(site, forged[0])
    assert proof.check == "altered"
    assert proof.shown is not None and not proof.shown.matches(proof.receipt)
    # The first of a chain purged: the second cannot be recomputed, and says why.
    visitor = str(uuid.uuid4())
    first = await send_receipt(client, site.key, consent_id=visitor)
    second = await send_receipt(client, site.key, consent_id=visitor)
    await ConsentReceipt.filter(receipt_id=first["receipt_id"]).delete()
    proof = await consent_log.receipt_proof(site, second["receipt_id"])
    assert proof.check == "predecessor_purged" and proof.previous is None
    history = await consent_log.visitor_history(site, visitor)
    assert [e.check for e in history.entries] == ["predecessor_purged"]
    assert history.ok


async def test_a_receipt_of_another_site_or_no_receipt_is_not_found(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other")  # the same domain, a site of its own
    theirs = await send_receipt(client, other.key)
    for ident in (theirs["receipt_id"], str(uuid.uuid4()), "not-a-uuid", "x" * 500):
        with pytest.raises(NotFound):
            await consent_log.receipt_proof(site, ident)
    for ident in (theirs["consent_id"], str(uuid.uuid4()), "nope"):
        with pytest.raises(NotFound):
            await consent_log.visitor_history(site, ident)
    with pytest.raises(ConsentNotFound):
        await consent_log.visitor_history(site, theirs["consent_id"])


async def test_a_visitors_history_in_order_with_each_version_they_saw(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, v1 = await published_site()
    visitor = str(uuid.uuid4())
    sent = [await send_receipt(client, site.key, consent_id=visitor, language="da")]
    await sites.update_site(site, texts={"da": {"title": "Cookies på version to"}})
    v2 = await publishing.publish(site)
    sent.append(await send_receipt(client, site.key, version=2, consent_id=visitor,
                                   language="da", method="reject_all",
                                   choices={"necessary": True, "preferences": False,
                                            "statistics": False, "marketing": False}))
    await send_receipt(client, site.key)  # someone else
    history = await consent_log.visitor_history(site, visitor)
    assert [str(e.receipt.receipt_id) for e in history.entries] == [s["receipt_id"] for s in sent]
    assert [e.check for e in history.entries] == ["verified", "verified"]
    assert history.ok and all(e.texts_match for e in history.entries)
    assert set(history.texts) == {(1, "da"), (2, "da")}
    for number, stored in ((1, v1), (2, v2)):
        shown = history.texts[(number, "da")]
        assert shown.texts == publishing.texts_for_language(publishing.parse_config(stored), "da")
        assert shown.texts_hash == sha256_hex(canonical_json(shown.texts))
    assert history.texts[(2, "da")].texts["texts"]["title"] == "Cookies på version to"
    assert await ConfigVersion.filter(site=site).count() == 2


async def test_time_filters_need_a_time_zone_and_work_across_zones(app: Starlette) -> None:
    site, _ = await published_site()
    ids = await bulk_receipts(site, 1, at=utcnow() - timedelta(minutes=1))
    stockholm = datetime.now(UTC).astimezone().replace(microsecond=0) - timedelta(hours=1)
    page = await consent_log.search(site, ReceiptFilter(start=stockholm))
    assert [r.receipt_id for r in page.receipts] == ids


async def test_a_receipt_id_prefix_finds_the_receipts_that_start_so(app: Starlette) -> None:
    site, _ = await published_site()
    other, _ = await published_site("Other", ("other.example",))
    ids = await bulk_receipts(site, 40)
    theirs = await bulk_receipts(other, 1)
    for target in ids[:5]:
        text = target.hex
        for digits in (8, 12, 31):
            page = await consent_log.search(site, ReceiptFilter(receipt_prefix=text[:digits]))
            expected = [r for r in ids if r.hex.startswith(text[:digits])]
            assert [r.receipt_id for r in page.receipts] == expected, digits
    # Bounds that would catch an off-by-one at either end of the range.
    low = uuid.UUID("12345678" + "0" * 24)
    high = uuid.UUID("12345678" + "f" * 24)
    await bulk_receipts(site, 1, receipt_id=low)
    await bulk_receipts(site, 1, receipt_id=high)
    page = await consent_log.search(site, ReceiptFilter(receipt_prefix="12345678"))
    assert sorted(r.receipt_id for r in page.receipts) == [low, high]
    assert not (await consent_log.search(
        site, ReceiptFilter(receipt_prefix=theirs[0].hex[:8]))).receipts
    for bad in ("1234567", "ABCDEF12", "12345678-", "g" * 8, "0" * 32):
        with pytest.raises(InvalidRequest):
            ReceiptFilter(receipt_prefix=bad)

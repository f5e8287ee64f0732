"""One list of receipt fields: ``NewReceipt`` (services/receipt_store.py). The model, the
migrated table, the insert, the row read back, the fields copied from the client and the fields
the record hash covers are held to it, so the next field cannot be half added."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from tortoise import connections

from cmp_server.models import ConsentReceipt
from cmp_server.schemas import ReceiptIn, ReceiptView
from cmp_server.services.receipt_store import (
    COLUMNS,
    HASHED,
    SENT,
    KnownReceipt,
    NewReceipt,
    open_store,
)
from cmp_server.services.receipts import record_hash

from .factories import published_site

_IDS = (uuid.uuid4(), uuid.uuid4())


def _row(site: int, **changes: Any) -> NewReceipt:
    now = datetime(2026, 11, 22, 6, 0, 0, 123456, tzinfo=UTC)
    row = NewReceipt(
        receipt_id=_IDS[0], consent_id=_IDS[1], site_id=site, config_version=1,
        texts_hash="t" * 64, language="sv", choices={"necessary": True, "marketing": False},
        method="custom", layer="second", page_url="https://www.shop.example/", recorded_at=now,
        expires_at=now + timedelta(days=180), user_agent="Firefox", ip_truncated="203.0.113.0",
        previous_receipt_id=None, content_hash="c" * 64, record_hash="r" * 64,
    )
    return dataclasses.replace(row, **changes)


async def test_the_model_has_exactly_the_columns(app: Starlette) -> None:
    assert ConsentReceipt._meta.db_fields == {"id", *COLUMNS}  # the models, initialised


def test_every_field_the_client_sends_is_stored_and_shown_back() -> None:
    assert set(SENT) == set(ReceiptIn.model_fields)
    assert set(ReceiptView.model_fields) <= set(COLUMNS)
    assert set(KnownReceipt._fields) <= set(COLUMNS)


def test_the_record_hash_covers_exactly_the_hashed_fields() -> None:
    # Each column changed by itself changes the hash if and only if it is marked hashed;
    # the site is hashed by its key.
    base = _row(1)
    before = record_hash(base, "key", "")
    other: dict[str, Any] = {
        "receipt_id": uuid.uuid4(), "consent_id": uuid.uuid4(), "site_id": 2,
        "config_version": 2, "texts_hash": "u" * 64, "language": "da",
        "choices": {"necessary": True, "marketing": True}, "method": "accept_all",
        "layer": "first", "page_url": "https://www.shop.example/b",
        "recorded_at": base.recorded_at + timedelta(seconds=1),
        "expires_at": base.expires_at + timedelta(seconds=1), "user_agent": "Chrome",
        "ip_truncated": None, "previous_receipt_id": uuid.uuid4(), "content_hash": "d" * 64,
        "record_hash": "s" * 64,
    }
    assert set(other) == set(COLUMNS)
    changed = {c for c in COLUMNS if record_hash(_row(1, **{c: other[c]}), "key", "") != before}
    assert changed == set(HASHED)
    assert "site_id" not in HASHED and record_hash(base, "other", "") != before


async def test_the_insert_writes_every_column_and_the_table_has_them(app: Starlette) -> None:
    site, _ = await published_site()
    row = _row(site.id, receipt_id=uuid.uuid4(), consent_id=uuid.uuid4())
    store = open_store()
    try:
        assert await store.insert_if_current(
            [row], [row.receipt_id], {(site.id, row.consent_id): None}
        )
        (known,) = await store.known([row.receipt_id], [])
    finally:
        await store.close()
    assert known == row.known()
    stored = await ConsentReceipt.get(receipt_id=row.receipt_id)
    for column in COLUMNS:
        value = getattr(stored, column)
        assert value == getattr(row, column), column
    # The table the migrations made (not the one generate_schemas would make from the model).
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        _, rows = await conn.execute_query(
            "SELECT column_name AS name FROM information_schema.columns"
            " WHERE table_name = 'consent_receipt'"
        )
    else:
        _, rows = await conn.execute_query("SELECT name FROM pragma_table_info('consent_receipt')")
    assert {r["name"] for r in rows} == {"id", *COLUMNS}


def test_an_export_holds_every_field_the_record_hash_covers() -> None:
    from cmp_server.services.export import EXPORT_FIELDS

    # An auditor recomputes the hash from an export alone: the site is exported by its key,
    # as the hash names it, and the hash itself goes along.
    assert set(HASHED) <= set(EXPORT_FIELDS)
    assert {"site", "record_hash"} <= set(EXPORT_FIELDS)
    assert "site_id" not in EXPORT_FIELDS

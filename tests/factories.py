"""Small factories for test data."""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cmp_server.models import ConfigVersion, Site, Staff
from cmp_server.services import inventory, publishing, sites

ORIGIN = "https://www.shop.example"


async def published_site(
    name: str = "Shop", domains: tuple[str, ...] = ("shop.example",),
    options: dict[str, Any] | None = None,
) -> tuple[Site, ConfigVersion]:
    """``options``: banner options to change from the defaults."""
    site = await sites.create_site(
        name, list(domains), policy_url="https://shop.example/cookies", force=True
    )
    if options:
        await sites.update_site(site, options=options)
    await inventory.add_vendor(
        site,
        key="google",
        name="Google",
        country="US",
        privacy_policy_url="https://policies.google.com/privacy",
        transfers_outside_eea=True,
        transfer_basis="EU-US Data Privacy Framework",
    )
    await inventory.add_item(
        site,
        name="_ga",
        purpose="statistics",
        vendor="google",
        duration_days=400,
        description={"en": "Distinguishes visitors for statistics."},
    )
    await inventory.add_item(
        site, name="_ga_", match="prefix", purpose="statistics", vendor="google", duration_days=400
    )
    await inventory.add_item(site, name="cmp_consent", purpose="necessary", duration_days=180)
    version = await publishing.publish(site)
    return site, version


def receipt_body(version: int = 1, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "receipt_id": str(uuid.uuid4()),
        "consent_id": str(uuid.uuid4()),
        "config_version": version,
        "choices": {
            "necessary": True,
            "preferences": False,
            "statistics": True,
            "marketing": False,
        },
        "method": "custom",
        "layer": "second",
        "language": "sv",
        "page_url": "https://www.shop.example/kurser?x=1",
    }
    body.update(overrides)
    return body


PASSWORD = "correct horse battery staple"


async def staff_member(role: str = "owner", email: str | None = None) -> Staff:
    """A staff account with ``PASSWORD``."""
    from cmp_server.services import staff

    address = email or f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    return await staff.create_staff(address, PASSWORD, role, name=f"A {role}")


async def bulk_receipts(
    site: Site,
    n: int,
    *,
    at: datetime | None = None,
    every: timedelta = timedelta(0),
    **fields: Any,
) -> list[uuid.UUID]:
    """``n`` receipts stored directly, the first recorded ``at`` (default now) and each next
    one ``every`` earlier; ``fields`` override the rest. Not written by the receipt writer:
    each is its own visitor's first, and their record hashes do not verify. The receipt ids,
    newest first."""
    from cmp_server._utils import utcnow
    from cmp_server.models import ConsentReceipt

    start = at or utcnow()
    rows = []
    for i in range(n):
        moment = start - i * every
        values: dict[str, Any] = {
            "receipt_id": uuid.uuid4(),
            "consent_id": uuid.uuid4(),
            "site": site,
            "config_version": 1,
            "texts_hash": "t" * 64,
            "language": "en",
            "choices": {"necessary": True, "statistics": i % 2 == 0, "marketing": False},
            "method": "custom",
            "layer": "second",
            "page_url": "https://shop.example/",
            "recorded_at": moment,
            "expires_at": moment + timedelta(days=180),
            "user_agent": "Mozilla/5.0 (test)",
            "ip_truncated": "192.0.2.0",
            "content_hash": "c" * 64,
            "record_hash": "r" * 64,
            **fields,
        }
        rows.append(ConsentReceipt(**values))
    await ConsentReceipt.bulk_create(rows, batch_size=500)
    return [row.receipt_id for row in rows]


async def chained_receipts(site: Site, n: int, *, per_visitor: int = 3,
                           batch: int = 5000) -> None:
    """``n`` receipts that verify (record hashes chained per visitor, ``per_visitor`` each,
    the published version 1's texts hash), stored fast: built here and inserted by the
    receipt writer's own store, ``batch`` a statement, as the writer's batches are."""
    from cmp_server._utils import utcnow
    from cmp_server.services.receipt_store import NewReceipt, open_store
    from cmp_server.services.receipts import record_hash

    version = await ConfigVersion.get(site_id=site.id, number=1)
    language = sorted(version.text_hashes)[0]
    start = utcnow()
    visitors = max(1, n // per_visitor)
    consent_ids = [uuid.uuid4() for _ in range(visitors)]
    last: dict[int, tuple[uuid.UUID, str]] = {}
    store = open_store()
    try:
        rows: list[NewReceipt] = []
        for i in range(n):
            visitor = i % visitors
            previous = last.get(visitor)
            moment = start + timedelta(microseconds=i)
            row = NewReceipt(
                receipt_id=uuid.uuid4(), consent_id=consent_ids[visitor],
                site_id=site.id, config_version=1, texts_hash=version.text_hashes[language],
                language=language,
                choices={"necessary": True, "statistics": i % 2 == 0, "marketing": False},
                method="custom", layer="second", page_url="https://shop.example/",
                recorded_at=moment, expires_at=moment + timedelta(days=180),
                user_agent="Mozilla/5.0 (test)", ip_truncated="192.0.2.0",
                previous_receipt_id=previous[0] if previous else None, content_hash="c" * 64,
            )
            row.record_hash = record_hash(row, site.key, previous[1] if previous else "")
            last[visitor] = (row.receipt_id, row.record_hash)
            rows.append(row)
            if len(rows) == batch or i == n - 1:
                chains: dict[Any, uuid.UUID | None] = {}
                for r in rows:  # each chain's last stored receipt before this batch
                    chains.setdefault((r.site_id, r.consent_id), r.previous_receipt_id)
                assert await store.insert_if_current(rows, [r.receipt_id for r in rows], chains)
                rows = []
    finally:
        await store.close()


async def send_receipt(client: Any, site_key: str, **overrides: Any) -> dict[str, Any]:
    """A receipt through the public API (the real writer: chained, hashed); the body sent."""
    import orjson

    body = receipt_body(**overrides)
    r = await client.post(
        f"/v1/sites/{site_key}/consents", content=orjson.dumps(body),
        headers={"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8"},
    )
    assert r.status_code == 201, r.text
    return body


def shared_data(name: str) -> Path:
    """A file of ../shared/data (the Open Cookie Database, the vendor fact sheet), beside the
    checkout on every machine the suite runs on, CI's included: missing, the test fails rather
    than skipping and passing unseen."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: the tests read ../shared/data beside the checkout")
    return path


def png_bytes(width: int, height: int, rgb: tuple[int, int, int] = (29, 63, 114)) -> bytes:
    """A real PNG of one colour (browsers draw it), made with zlib: a logo to upload."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))

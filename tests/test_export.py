from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import orjson
from starlette.applications import Starlette

from cmp_server._utils import utcnow
from cmp_server.models import ConsentReceipt, PurgeLog, Site
from cmp_server.services.export import CSV_FIELDS, EXPORT_FIELDS, export_receipts
from cmp_server.services.retention import purge_receipts
from cmp_server.services.sites import update_site

from .factories import published_site


async def _receipts(
    site: Site, n: int, *, age_days: int = 0, page_url: str = "https://shop.example/"
) -> None:
    at = utcnow() - timedelta(days=age_days)
    await ConsentReceipt.bulk_create(
        [
            ConsentReceipt(
                receipt_id=uuid.uuid4(),
                consent_id=uuid.uuid4(),
                site=site,
                config_version=1,
                texts_hash="t" * 64,
                language="en",
                choices={"necessary": True, "marketing": i % 2 == 0},
                method="custom",
                layer="first",
                page_url=page_url,
                recorded_at=at,
                expires_at=at + timedelta(days=180),
                user_agent="ua",
                ip_truncated="192.0.2.0",
                content_hash="c" * 64,
                record_hash="r" * 64,
            )
            for i in range(n)
        ]
    )


async def _collect(site: Site, fmt: str, **kwargs: object) -> tuple[bytes, int]:
    chunks = [c async for c in export_receipts(site, fmt, page_size=1000, **kwargs)]  # type: ignore[arg-type]
    return b"".join(chunks), len(chunks)


async def test_csv_export_is_streamed_in_pages(app: Starlette) -> None:
    site, _ = await published_site()
    await _receipts(site, 2500)
    data, chunks = await _collect(site, "csv")
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert tuple(rows[0]) == CSV_FIELDS
    assert len(rows) == 2501
    assert chunks == 1 + 3  # header, then one chunk per page of 1000
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["site"] == site.key
    assert orjson.loads(record["choices"]) == {"marketing": True, "necessary": True}
    assert len({r[0] for r in rows[1:]}) == 2500


async def test_jsonl_export_respects_the_date_range(app: Starlette) -> None:
    site, _ = await published_site()
    await _receipts(site, 3, age_days=10)
    await _receipts(site, 2, age_days=1)
    data, _ = await _collect(site, "jsonl", start=utcnow() - timedelta(days=5))
    lines = [orjson.loads(line) for line in data.splitlines()]
    assert len(lines) == 2
    assert set(lines[0]) == set(EXPORT_FIELDS)
    data, _ = await _collect(site, "jsonl", end=utcnow() - timedelta(days=5))
    assert len(data.splitlines()) == 3


async def test_csv_export_neutralises_spreadsheet_formulas(app: Starlette) -> None:
    site, _ = await published_site()
    await _receipts(site, 1, page_url='=HYPERLINK("http://evil")')
    data, _ = await _collect(site, "csv")
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert rows[0]["page_url"].startswith("'=")


async def test_purge_deletes_only_receipts_past_retention_and_logs_it(app: Starlette) -> None:
    site, _ = await published_site()
    await update_site(site, receipt_retention_days=30)
    await _receipts(site, 4, age_days=40)
    await _receipts(site, 3, age_days=5)
    results = await purge_receipts(trigger="cli")
    assert [(r.site_key, r.deleted) for r in results] == [(site.key, 4)]
    assert await ConsentReceipt.filter(site=site).count() == 3
    log = await PurgeLog.get(site=site)
    assert log.deleted == 4 and log.trigger == "cli"
    assert (utcnow() - log.cutoff).days == 30

"""Test infrastructure only: the database the suite runs on, the app, an HTTP client.

The same suite runs on SQLite by default and on PostgreSQL when CMP_TEST_DATABASE_URL is set
(``make test-postgres``). Test data comes from ``tests/factories.py``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from tortoise import connections

from cmp_server import db
from cmp_server.app import create_app
from cmp_server.settings import Settings

TABLES = (
    "revision",
    "delivery_attempt",
    "delivery",
    "event",
    "mail_subscription",
    "mail_preference",
    "webhook_endpoint",
    "audit_entry",
    "staff_session",
    "password_reset",
    "recovery_code",
    "staff_site",
    "api_token_site",
    "api_token",
    "installation_setting",
    "staff",
    "consent_daily",
    "receipt_leaf",
    "tree_node",
    "checkpoint",
    "signing_key",
    "consent_receipt",
    "purge_log",
    "scan",
    "scan_job",
    "scan_schedule",
    "blocking_rule",
    "inventory_item",
    "vendor",
    "purpose",
    "config_version",
    "logo",
    "site",
    "inventory_tally",
)


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("CMP_TEST_DATABASE_URL")
    if not url:
        path = tmp_path_factory.mktemp("db") / "test.sqlite3"
        return f"sqlite://{path}"
    # A clean schema for the run, brought up through the real migrations.
    import asyncpg

    dsn = url.replace("postgres://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    await db.migrate(url)
    return url


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgres")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        secret_key="test-secret-key-not-for-production",
        database_url=database_url,
        data_dir=tmp_path,
        config_cache_seconds=0,
        run_worker=False,
    )


async def _empty_tables(database_url: str) -> None:
    conn = connections.get("default")
    if database_url.startswith("postgres"):
        await conn.execute_script(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    else:
        for table in TABLES:
            await conn.execute_script(f"DELETE FROM {table}")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await _empty_tables(settings.resolved_database_url)
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.77", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import orjson
import pytest

from ._server import cli_env, free_port, run_cli, serving
from .factories import receipt_body


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env(database_url, tmp_path)


@pytest.mark.parametrize(
    "command",
    [
        "serve",
        "migrate",
        "create-site",
        "export-receipts",
        "purge-receipts",
        "demo",
        "verify-receipts",
        "worker",
        "request-scan",
        "scans",
        "scan",
        "kb",
    ],
)
def test_every_command_has_help(command: str, env: dict[str, str]) -> None:
    result = run_cli([command, "--help"], env)
    assert result.returncode == 0, result.stderr
    assert "Usage: " in result.stdout and command in result.stdout


def test_create_site_then_serve_record_and_export(env: dict[str, str], tmp_path: Path) -> None:
    created = run_cli(["create-site", "--name", "Kursgården", "--domain", "kursgarden.se"], env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert len(key) >= 16
    assert f"/v1/sites/{key}/cmp.js" in created.stderr

    port = free_port()
    body = receipt_body(language="sv", page_url="https://www.kursgarden.se/")
    with serving(["serve"], env, port) as base:
        config = httpx.get(f"{base}/v1/sites/{key}/config").json()
        assert config["site_key"] == key
        r = httpx.post(
            f"{base}/v1/sites/{key}/consents",
            content=orjson.dumps(body),
            headers={"Origin": "https://www.kursgarden.se", "Content-Type": "text/plain"},
        )
        assert r.status_code == 201, r.text

    out = tmp_path / "receipts.csv"
    exported = run_cli(["export-receipts", "--site", key, "--out", str(out)], env)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["receipt_id"] for r in rows] == [body["receipt_id"]]
    assert rows[0]["ip_truncated"] == "127.0.0.0"

    purged = run_cli(["purge-receipts"], env)
    assert purged.returncode == 0
    assert f"{key}: 0 receipts purged" in purged.stdout


def test_bad_input_gives_a_clear_message(env: dict[str, str]) -> None:
    result = run_cli(["create-site", "--name", "X", "--domain", "not a domain"], env)
    assert result.returncode != 0
    assert "not a domain name" in result.stderr
    result = run_cli(["export-receipts", "--site", "missing"], env)
    assert result.returncode != 0
    assert "no site with key" in result.stderr


def test_production_refuses_the_default_secret(env: dict[str, str]) -> None:
    without_secret = {k: v for k, v in env.items() if k != "CMP_SECRET_KEY"}
    result = run_cli(["migrate"], {**without_secret, "CMP_ENVIRONMENT": "production"})
    assert result.returncode != 0
    assert "CMP_SECRET_KEY" in result.stderr


def test_demo_serves_a_page_carrying_the_tag(env: dict[str, str]) -> None:
    port = free_port()
    with serving(["demo"], env, port) as base:
        page = httpx.get(f"{base}/demo/")
        assert page.status_code == 200
        tag = page.text.split('<script src="', 1)[1].split('"', 1)[0]
        assert tag.startswith("/v1/sites/") and tag.endswith("/cmp.js")
        script = httpx.get(base + tag)
        assert script.status_code == 200
        assert b"__CMP_CONFIG__" not in script.content
        key = tag.split("/")[3]
        assert httpx.get(f"{base}/v1/sites/{key}/config").json()["site_key"] == key


def test_serve_on_an_unmigrated_postgres_says_to_migrate(tmp_path: Path) -> None:
    # An empty schema of its own, so that the suite's database is not touched.
    import asyncio

    import asyncpg

    async def sql(statement: str) -> object:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(sql("DROP SCHEMA IF EXISTS unmigrated CASCADE"))
        asyncio.run(sql("CREATE SCHEMA unmigrated"))
    except OSError:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    url = "postgres://postgres@127.0.0.1:5432/test?schema=unmigrated"
    env = cli_env(url, tmp_path)
    try:
        result = run_cli(["serve", "--port", "1"], env)
        assert result.returncode != 0
        assert "the database schema is behind (models.0001_initial" in result.stderr
        assert "cmp-server migrate" in result.stderr
        # The URL really means that schema: migrate fills it.
        assert run_cli(["migrate"], env).returncode == 0
        assert asyncio.run(sql("SELECT count(*) FROM information_schema.tables"
                               " WHERE table_schema = 'unmigrated' AND table_name = 'vendor'")) == 1
    finally:
        asyncio.run(sql("DROP SCHEMA IF EXISTS unmigrated CASCADE"))


def test_an_unreachable_postgres_is_said_so_not_to_need_migrate(tmp_path: Path) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    env = cli_env("postgres://postgres@127.0.0.1:9/test", tmp_path)
    for command in (["serve", "--port", "1"], ["migrate"]):
        result = run_cli(command, env)
        assert result.returncode != 0
        assert "cannot use the database" in result.stderr, result.stderr
        assert "migrate`" not in result.stderr and "Traceback" not in result.stderr


def test_kb_import_loads_the_open_cookie_database(env: dict[str, str], tmp_path: Path) -> None:
    csv_file = Path(__file__).resolve().parents[2] / "shared/data/open-cookie-database.csv"
    if not csv_file.exists():
        pytest.skip("the Open Cookie Database is not beside the checkout")
    result = run_cli(["kb", "import", str(csv_file)], env)
    assert result.returncode == 0, result.stderr
    assert "imported 2264 rules" in result.stdout
    stored = tmp_path / "kb" / "open-cookie-database.json"
    assert stored.exists()
    from scanner.kb import KnowledgeBase

    kb = KnowledgeBase.load([stored])
    match = kb.match_cookie("hubspotapi")
    assert match is not None and match.category != "unclassified"
    bad = tmp_path / "bad.csv"
    bad.write_text("name,thing\nx,y\n")
    result = run_cli(["kb", "import", str(bad)], env)
    assert result.returncode != 0 and "Error" in result.stderr


def test_request_scan_and_list_jobs(env: dict[str, str]) -> None:
    created = run_cli(["create-site", "--name", "Scanme", "--domain", "scan.example"], env)
    key = created.stdout.strip()
    refused = run_cli(["request-scan", "--site", key, "--url", "http://127.0.0.1/"], env)
    assert refused.returncode != 0 and "127.0.0.1" in refused.stderr
    allowed = {**env, "CMP_ALLOW_PRIVATE_SCAN_TARGETS": "true"}
    queued = run_cli(["request-scan", "--site", key, "--url", "http://127.0.0.1:9/"], allowed)
    assert queued.returncode == 0, queued.stderr
    listed = run_cli(["scans", "--site", key], env)
    assert f"job {queued.stdout.strip()}  queued" in listed.stdout

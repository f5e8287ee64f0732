from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import orjson
import pytest

from ._server import cli_env, free_port, run_cli, serving
from .factories import receipt_body, shared_data


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env(database_url, tmp_path)


@pytest.mark.parametrize(
    "command",
    [
        "serve",
        "migrate",
        "create-site",
        "create-admin",
        "reset-two-factor",
        "export-receipts",
        "purge-receipts",
        "demo",
        "verify-receipts",
        "cancel-scan",
        "schedules",
        "worker",
        "request-scan",
        "scans",
        "scan",
        "kb",
        "publish",
        "inventory",
        "recount-consents",
        "keys",
        "checkpoint",
        "export-evidence",
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
    csv_file = shared_data("open-cookie-database.csv")
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


def test_schedules_add_list_remove(env: dict[str, str]) -> None:
    created = run_cli(["create-site", "--name", "Sched", "--domain", "127.0.0.1", "--force"],
                      env)
    key = created.stdout.strip()
    allowed = {**env, "CMP_ALLOW_PRIVATE_SCAN_TARGETS": "true"}
    assert "has no scan schedule" in run_cli(["schedules", "list", "--site", key], env).stdout
    off_site = run_cli(["schedules", "add", "--site", key, "--url", "https://else.example/"],
                       allowed)
    assert off_site.returncode != 0 and "not on the site's domains" in off_site.stderr
    bad_time = run_cli(["schedules", "add", "--site", key, "--at", "25:00"], allowed)
    assert bad_time.returncode != 0 and "time_of_day" in bad_time.stderr
    added = run_cli(["schedules", "add", "--site", key, "--url", "http://127.0.0.1:9/",
                     "--page", "http://127.0.0.1:9/checkout", "--max-pages", "5",
                     "--passes", "none,reject", "--frequency", "weekly", "--weekday", "4",
                     "--at", "02:15"], allowed)
    assert added.returncode == 0, added.stderr
    schedule_id = added.stdout.split("\t")[0]
    listed = run_cli(["schedules", "list", "--site", key], env).stdout
    assert "Weekly on Friday at 02:15 UTC" in listed and "http://127.0.0.1:9/ + 1 more" in listed
    assert "5 pages\tnone,reject" in listed
    removed = run_cli(["schedules", "remove", "--site", key, schedule_id], env)
    assert removed.returncode == 0, removed.stderr
    assert "has no scan schedule" in run_cli(["schedules", "list", "--site", key], env).stdout
    again = run_cli(["schedules", "remove", "--site", key, schedule_id], env)
    assert again.returncode != 0 and "no schedule" in again.stderr


def test_scan_for_a_site_that_is_not_there_stops_before_scanning(env: dict[str, str]) -> None:
    # No browser starts: the key is checked first (the whole scan: tests/test_scan_proves.py).
    result = run_cli(["scan", "https://shop.example/", "--site", "missing"], env)
    assert result.returncode != 0 and "no site with key" in result.stderr
    result = run_cli(["scan", "https://shop.example/", "--site", "missing",
                      "--max-pages", "5000"], env)
    assert result.returncode == 2 and "at most 2000 pages" in result.stderr


def test_export_refuses_from_later_than_to_and_writes_times_with_z(
    env: dict[str, str], tmp_path: Path
) -> None:
    created = run_cli(["create-site", "--name", "Times", "--domain", "times.example"], env)
    key = created.stdout.strip()
    result = run_cli(
        ["export-receipts", "--site", key, "--from", "2026-03-01", "--to", "2026-02-01"], env
    )
    assert result.returncode != 0
    assert "--from (2026-03-01 00:00) is later than --to (2026-02-01 00:00)" in result.stderr
    port = free_port()
    body = receipt_body(page_url="https://times.example/")
    with serving(["serve"], env, port) as base:
        answer = httpx.post(
            f"{base}/v1/sites/{key}/consents", content=orjson.dumps(body),
            headers={"Origin": "https://times.example", "Content-Type": "text/plain"},
        ).json()
    out = tmp_path / "r.jsonl"
    run_cli(["export-receipts", "--site", key, "--format", "jsonl", "--out", str(out)], env)
    row = orjson.loads(out.read_text().splitlines()[0])
    # One way of writing times, RFC 3339 with Z, in the API and in exports alike.
    assert answer["recorded_at"].endswith("Z") and row["recorded_at"] == answer["recorded_at"]
    assert row["expires_at"] == answer["expires_at"]


def test_a_domain_another_site_has_needs_force(env: dict[str, str]) -> None:
    first = run_cli(["create-site", "--name", "A", "--domain", "shared.example"], env)
    assert first.returncode == 0
    second = run_cli(["create-site", "--name", "B", "--domain", "shared.example"], env)
    assert second.returncode != 0
    assert "another site already has shared.example" in second.stderr
    assert "--force" in second.stderr
    forced = ["create-site", "--name", "B", "--domain", "shared.example", "--force"]
    assert run_cli(forced, env).returncode == 0


def test_a_settings_error_never_prints_the_secret(env: dict[str, str]) -> None:
    secret = "a-secret-too-short"
    result = run_cli(
        ["migrate"], {**env, "CMP_ENVIRONMENT": "production", "CMP_SECRET_KEY": secret}
    )
    assert result.returncode != 0
    assert "CMP_SECRET_KEY must be at least 32 characters" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_a_busy_port_says_what_to_do(env: dict[str, str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["demo", "--port", str(port)], env)
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert f"--port {port + 1}" in result.stderr and f"make demo PORT={port + 1}" in result.stderr


def test_the_demo_on_every_interface_accepts_the_machines_own_addresses(
    env: dict[str, str],
) -> None:
    from cmp_server.demo import demo_hosts

    lan = [a for a in demo_hosts("0.0.0.0") if a not in ("127.0.0.1", "localhost", "::1")]
    if not lan:
        pytest.skip("this machine has no network address besides loopback")
    port = free_port()
    with serving(["demo", "--host", "0.0.0.0"], env, port) as base:
        tag = httpx.get(f"{base}/demo/").text.split('<script src="', 1)[1].split('"', 1)[0]
        key = tag.split("/")[3]
        origin = f"http://{lan[0]}:{port}"
        r = httpx.post(
            f"{base}/v1/sites/{key}/consents",
            content=orjson.dumps(receipt_body(page_url=f"{origin}/demo/")),
            headers={"Origin": origin, "Content-Type": "text/plain"},
        )
        assert r.status_code == 201, r.text


def test_a_client_gone_mid_body_is_one_quiet_line_and_a_stalled_body_times_out(
    env: dict[str, str],
) -> None:
    import socket
    import time

    created = run_cli(["create-site", "--name", "Slow", "--domain", "slow.example"], env)
    key = created.stdout.strip()
    port = free_port()
    output: list[str] = []
    head = (
        f"POST /v1/sites/{key}/consents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Origin: https://slow.example\r\nContent-Type: text/plain\r\n"
        "Content-Length: 500\r\n\r\n{\"receipt_id\": "
    ).encode()
    with serving(["serve"], {**env, "CMP_BODY_TIMEOUT_SECONDS": "1"}, port, output):
        with socket.create_connection(("127.0.0.1", port)) as gone:
            gone.sendall(head)
            time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
            stalled.sendall(head)
            started = time.monotonic()
            # Headers and body may come in two packets: read until the server closes or the
            # body has arrived.
            received = b""
            while b'"}' not in received and (chunk := stalled.recv(4096)):
                received += chunk
            answer = received.decode()
            waited = time.monotonic() - started
        assert answer.startswith("HTTP/1.1 408"), answer
        assert '"error":"body_timeout"' in answer
        assert waited < 8
    log = output[0]
    assert "Traceback" not in log and "unhandled error" not in log, log
    assert log.count("client went away before its request body arrived") == 1, log


def test_create_admin_then_sign_in_and_the_demo_prints_its_login(env: dict[str, str]) -> None:
    import subprocess
    import sys

    made = subprocess.run(
        [sys.executable, "-m", "cmp_server.cli", "create-admin", "--email", "Ops@Example.org",
         "--role", "privacy", "--password-stdin"],
        input="a long enough password\n", env=env, capture_output=True, text=True, timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert "ops@example.org can sign in at" in made.stdout
    short = subprocess.run(
        [sys.executable, "-m", "cmp_server.cli", "create-admin", "--email", "b@example.org",
         "--password-stdin"], input="short\n", env=env, capture_output=True, text=True,
        timeout=60,
    )
    assert short.returncode != 0 and "12 to 1024 characters" in short.stderr
    port = free_port()
    output: list[str] = []
    with serving(["demo"], env, port, output) as base:
        with httpx.Client(base_url=base) as browser:
            form = browser.get("/admin/login").text
            token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            login = {"csrf_token": token, "email": "ops@example.org",
                     "password": "a long enough password"}
            assert browser.post("/admin/login", data=login).status_code == 303
            dashboard = browser.get("/admin/").text
            assert "Demo course provider" in dashboard
            site_page = dashboard.split('<a href="/admin/sites/', 1)[1].split('"', 1)[0]
            settings = browser.get(f"/admin/sites/{site_page}").text
            # The install snippet names the address the demo serves on.
            assert f'src="http://127.0.0.1:{port}/v1/sites/' in settings.replace("&#34;", '"')
    printed = output[0]
    assert "sign in as   owner@demo.example" in printed
    password = printed.split("password     ", 1)[1].split()[0]
    with serving(["demo"], env, port) as base, httpx.Client(base_url=base) as browser:
        form = browser.get("/admin/login").text
        token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = browser.post("/admin/login", data={
            "csrf_token": token, "email": "owner@demo.example", "password": password,
        })
        assert signed.status_code == 303


def test_a_port_left_in_time_wait_by_a_killed_server_is_free_to_serve_again() -> None:
    """After `kill -9` under load the port holds connections in TIME_WAIT: uvicorn can bind
    (SO_REUSEADDR) and so must the busy-port check before it; a listening socket still
    refuses."""
    import socket

    import click

    from cmp_server.cli import _refuse_busy_port

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    with pytest.raises(click.ClickException, match="cannot listen"), \
            click.Context(click.Command("serve")):
        _refuse_busy_port("127.0.0.1", port)
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end of the port waits in TIME_WAIT
    server.close()
    client.close()
    _refuse_busy_port("127.0.0.1", port)

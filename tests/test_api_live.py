"""The JSON admin API against a real ``cmp-server serve`` process: the command line's
``--api URL --token T`` mode, and a schemathesis run over the admin part of the OpenAPI
document with a valid write token (no input may produce a 5xx)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from ._server import cli_env, free_port, run_cli, serving

OWNER = "owner@example.org"
# Items for the site (run in a process of its own, as the server's database is the CLI's).
SEED = """
import asyncio, sys
from cmp_server import db
from cmp_server.services import inventory, sites
from cmp_server.settings import Settings

async def main():
    await db.open_database(Settings().resolved_database_url, run_migrations=True)
    site = await sites.get_site(sys.argv[1])
    for i in range(230):
        await inventory.add_item(site, name=f"c{i:03d}", purpose="statistics",
                                 review_status="unreviewed" if i % 3 else "reviewed",
                                 duration_days=i or None)
    await db.close_database()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env = cli_env(database_url, tmp_path_factory.mktemp("api-live"))
    env.update({"CMP_ALLOW_PRIVATE_SCAN_TARGETS": "true", "CMP_RUN_WORKER": "false",
                "CMP_API_REQUESTS_PER_MINUTE": "100000"})
    # Tables emptied by earlier tests' fixtures still hold this module's rows on a rerun.
    created = run_cli(["create-site", "--name", "Remote", "--domain", "remote.example"], env)
    assert created.returncode == 0, created.stderr
    other = run_cli(["create-site", "--name", "Elsewhere", "--domain", "elsewhere.example"], env)
    admin = run_cli(["create-admin", "--email", OWNER, "--password-stdin"], env,
                    input="a long enough password\n")
    assert admin.returncode == 0 or "already" in admin.stderr, admin.stderr
    key = created.stdout.strip()
    seeded = subprocess.run([sys.executable, "-c", SEED, key], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert seeded.returncode == 0, seeded.stderr
    tokens = {}
    for scope, sites in (("write", []), ("read", ["--site", key])):
        made = run_cli(["create-token", "--owner", OWNER, "--name", f"{scope}-{key}",
                        "--scope", scope, *sites], env)
        assert made.returncode == 0, made.stderr
        tokens[scope] = made.stdout.strip()
    with serving(["serve"], env, free_port()) as base:
        yield {"base": base, "env": env, "key": key, "other": other.stdout.strip(), **tokens}


def _remote(live: dict[str, Any], *args: str, token: str = "write"):  # type: ignore[no-untyped-def]
    return run_cli(["--api", live["base"], "--token", live[token], *args], live["env"])


def test_the_command_line_drives_a_remote_server(live: dict[str, Any]) -> None:
    key = live["key"]
    queued = _remote(live, "request-scan", "--site", key, "--url", "http://127.0.0.1:9/",
                     "--max-pages", "2")
    assert queued.returncode == 0, queued.stderr
    job = queued.stdout.strip()
    assert job.isdigit()
    listed = _remote(live, "scans", "--site", key)
    assert listed.returncode == 0 and f"job {job}  queued" in listed.stdout, listed.stdout
    cancelled = _remote(live, "cancel-scan", "--site", key)
    assert cancelled.stdout.strip() == f"scan job {job} cancelled before it started"
    again = _remote(live, "cancel-scan", "--site", key, "--job", job)
    assert again.returncode == 1 and "409" in again.stderr and "cancelled" in again.stderr
    published = _remote(live, "publish", "--site", key, "--yes")
    assert published.returncode == 0, published.stderr
    assert "published version" in published.stdout or "nothing to publish" in published.stdout
    exported = _remote(live, "export-receipts", "--site", key, "--format", "jsonl",
                       "--from", "2026-01-01", "--to", "2026-02-01")
    assert exported.returncode == 0 and exported.stdout == "", exported.stderr
    for args in (("--format", "json"), ("--unreviewed", "--format", "csv")):
        here = run_cli(["inventory", "--site", key, *args], live["env"])
        there = _remote(live, "inventory", "--site", key, *args, token="read")
        assert there.returncode == 0, there.stderr
        assert there.stdout == here.stdout and len(there.stdout.splitlines()) > 150
    # What the server recorded: the token's name, as staff read it in the audit log.
    audit = _remote(live, "scans", "--site", key)
    assert "by token:write-" in audit.stdout, audit.stdout


def test_the_command_line_says_what_the_server_refused(live: dict[str, Any]) -> None:
    key = live["key"]
    read_only = _remote(live, "request-scan", "--site", key, token="read")
    assert read_only.returncode == 1 and "403" in read_only.stderr
    other_site = _remote(live, "scans", "--site", live["other"], token="read")
    assert other_site.returncode == 1 and "404" in other_site.stderr
    wrong = run_cli(["--api", live["base"], "--token", "cmp_nope_nope", "scans", "--site",
                     key], live["env"])
    assert wrong.returncode == 1 and "401" in wrong.stderr
    local_only = _remote(live, "purge-receipts")
    assert local_only.returncode == 2 and "no API equivalent" in local_only.stderr
    no_token = run_cli(["--api", live["base"], "scans", "--site", key], live["env"])
    assert no_token.returncode == 2 and "--token" in no_token.stderr
    partial_day = _remote(live, "export-receipts", "--site", key, "--from",
                          "2026-01-01 10:00:00")
    assert partial_day.returncode == 2 and "whole days" in partial_day.stderr
    gone = run_cli(["--api", "http://127.0.0.1:9", "--token", live["write"], "scans",
                    "--site", key], live["env"])
    assert gone.returncode == 1 and "cannot reach" in gone.stderr


@pytest.mark.slow
@pytest.mark.timeout(1200)  # 23 operations: minutes on a loaded machine, on PostgreSQL
def test_no_admin_api_input_makes_the_server_fail(live: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_url(f"{live['base']}/v1/openapi.json")
    operations = [op for op in (r.ok() for r in schema.get_all_operations())
                  if "admin" in (op.tags or [])]
    assert len(operations) == 23
    statuses: set[int] = set()
    auth = {"Authorization": f"Bearer {live['write']}"}

    for operation in operations:

        @given(case=operation.as_strategy(), real=st.booleans())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any, real: bool) -> None:
            if real and case.path_parameters and "key" in case.path_parameters:
                case.path_parameters["key"] = live["key"]
            case.headers = {**(case.headers or {}), **auth}
            response = case.call(base_url=live["base"])
            statuses.add(response.status_code)
            assert response.status_code < 500, (case.method, case.formatted_path,
                                                 case.query, response.text[:500])
            # A path of "." or ".." segments, resolved by the client, leaves the API.
            inside = urlsplit(response.request.url or "").path.startswith("/admin/api/v1/")
            if response.status_code >= 400 and inside:
                assert "error" in json.loads(response.text), (response.request.url,
                                                               response.text[:300])
            case.validate_response(response, checks=[not_a_server_error])

        check()
    # Past routing into the services: answers, refusals of input, unknown things.
    assert {200, 404, 422} <= statuses, statuses

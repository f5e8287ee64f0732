"""Issue 21 from the command line, as an operator and a regulator's technician would: keys,
a checkpoint, an evidence bundle exported, checked by ``cmp-verify`` in its own process, and
``verify-receipts`` on the live database."""

from __future__ import annotations

import stat
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from ._server import cli_env, free_port, run_cli, serving
from .factories import receipt_body


@pytest.fixture
def env(app: Starlette, database_url: str, tmp_path: Path) -> dict[str, str]:
    # ``app``: the tables emptied first, so no key another test made is listed here.
    return cli_env(database_url, tmp_path)


def _cmp_verify(*args: str) -> subprocess.CompletedProcess[str]:
    # The console script's entry point, in a process of its own.
    return subprocess.run([sys.executable, "-c", "from cmp_verify.cli import run; run()", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_keys_checkpoint_export_and_verify(env: dict[str, str], tmp_path: Path) -> None:
    created = run_cli(["create-site", "--name", "Kursgården", "--domain", "evidence.example"], env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()

    listed = run_cli(["keys", "list"], env)
    assert listed.returncode == 0 and "keys create" in listed.stdout
    refused = run_cli(["checkpoint"], env)
    assert refused.returncode == 1 and "cmp-server keys create" in refused.stderr

    made = run_cli(["keys", "create"], env)
    assert made.returncode == 0, made.stderr
    assert "fingerprint SHA-256:" in made.stdout and "current" in made.stdout
    key_file = tmp_path / "signing-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = run_cli(["keys", "create"], env)
    assert again.returncode == 1 and "keys rotate" in again.stderr

    visitor = str(uuid.uuid4())
    with serving(["serve"], env, free_port()) as base:
        for i in range(4):
            body = receipt_body(consent_id=visitor if i < 2 else str(uuid.uuid4()),
                                page_url="https://www.evidence.example/")
            r = httpx.post(f"{base}/v1/sites/{key}/consents", content=orjson.dumps(body),
                           headers={"Origin": "https://www.evidence.example",
                                    "Content-Type": "text/plain"})
            assert r.status_code == 201, r.text
        keys = httpx.get(f"{base}/v1/keys").json()["keys"]
        assert len(keys) == 1 and keys[0]["fingerprint"] in made.stdout

    signed = run_cli(["checkpoint"], env)
    assert signed.returncode == 0 and f"{key}: tree size 4" in signed.stdout, signed.stderr
    rotated = run_cli(["keys", "rotate"], env)
    assert rotated.returncode == 0 and keys[0]["key_id"] not in rotated.stdout.split("\n")[1]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    bundle = tmp_path / "evidence.zip"
    exported = run_cli(["export-evidence", "--site", key, "--out", str(bundle)], env)
    assert exported.returncode == 0 and "4 receipts" in exported.stdout, exported.stderr
    assert key_file.read_bytes() not in bundle.read_bytes()
    checked = _cmp_verify(str(bundle))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "VERIFIED" in checked.stdout and keys[0]["key_id"] in checked.stdout

    mine = tmp_path / "visitor.zip"
    exported = run_cli(["export-evidence", "--site", key, "--consent-id", visitor,
                        "--out", str(mine)], env)
    assert exported.returncode == 0 and "2 receipts" in exported.stdout
    assert _cmp_verify(str(mine)).returncode == 0
    bad = run_cli(["export-evidence", "--site", key, "--consent-id", "nope", "--out",
                   str(mine)], env)
    assert bad.returncode == 2 and "UUID" in bad.stderr

    verified = run_cli(["verify-receipts", "--site", key], env)
    assert verified.returncode == 0 and "VERIFIED" in verified.stdout, verified.stdout
    listed = run_cli(["keys", "list"], env)
    assert listed.stdout.count("fingerprint SHA-256:") == 2 and "retired" in listed.stdout

"""Issue 18's end to end, through the real command line, a real server and real Chromium: a
site carrying our tag and the vendors' unmodified snippets is scanned and stored as the site's
scan (``cmp-server scan --site``), published with no staff mapping at all, and scanned again.
The second scan proves automatic blocking: before consent and after reject every vendor's
cookie and storage key is gone, after accept every one is back, the site's own session cookie
is set throughout, and the admin's scan page says so."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scanner import ScanReport

from ._server import cli_env, free_port, run_cli, serving
from .factories import PASSWORD
from .scanner.fakeweb import FakeWeb
from .scanner.sites import TAGGED_NECESSARY, TAGGED_VENDOR_ITEMS, install_tagged, install_vendors

pytestmark = pytest.mark.browser

HOST = "www.proves.test"
SCAN_TIMEOUT = 400  # seconds: three passes of two pages, on a busy machine


@pytest.fixture(scope="module")
def web() -> Iterator[FakeWeb]:
    server = FakeWeb().start()
    install_vendors(server)
    yield server
    server.stop()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {**cli_env(database_url, tmp_path), "CMP_RUN_WORKER": "false",
            "CMP_CONFIG_CACHE_SECONDS": "0"}


def _ok(result: object) -> str:
    assert result.returncode == 0, result.stderr + result.stdout  # type: ignore[attr-defined]
    return result.stdout  # type: ignore[attr-defined,no-any-return]


def _scan(web: FakeWeb, env: dict[str, str], key: str, out: Path) -> tuple[ScanReport, int]:
    printed = _ok(run_cli(
        ["scan", web.url(HOST), "--site", key, "--max-pages", "2", "--settle", "2",
         "--timeout", "20", "--ignore-https-errors", "--no-sitemap",
         "--browser-arg", web.browser_args[0], "--out", str(out)],
        env, timeout=SCAN_TIMEOUT,
    ))
    stored = re.search(r"Stored as scan (\d+) of site", printed)
    assert stored, printed
    return ScanReport.model_validate_json(out.read_text()), int(stored.group(1))


def _passes(report: ScanReport) -> dict[tuple[str, str], tuple[str, ...]]:
    return {(i.kind, i.name): i.passes for i in report.items}


def _page_text(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page.text)).split())


def test_a_scan_proves_what_waits_for_consent(
    web: FakeWeb, env: dict[str, str], tmp_path: Path
) -> None:
    key = _ok(run_cli(["create-site", "--name", "Proves", "--domain", "proves.test"], env)).strip()
    admin = run_cli(["create-admin", "--email", "dpo@proves.test", "--role", "viewer",
                     "--password-stdin"], env, input=PASSWORD + "\n")
    port = free_port()
    with serving(["serve"], env, port) as base:
        # The tag as the install snippet gives it, on this server (loopback: no mixed content).
        install_tagged(web, HOST, f"{base}/v1/sites/{key}/cmp.js")

        # 1. Published with nothing in the inventory: no rule, every snippet fires at once.
        first, first_id = _scan(web, env, key, tmp_path / "first.json")
        seen = _passes(first)
        for item in TAGGED_VENDOR_ITEMS:
            assert "none" in seen.get(item, ()), (item, seen)
        assert seen[TAGGED_NECESSARY] == ("none", "accept", "reject")
        assert first.consent_blocking == () and first.consent["accept"] == "cmp"

        # The inventory filled from the scan, unreviewed: nobody mapped anything.
        listed = json.loads(_ok(run_cli(["inventory", "--site", key, "--format", "json"], env)))
        names = {(row["kind"], row["name"]) for row in listed}
        assert TAGGED_VENDOR_ITEMS <= names
        assert {row["review_status"] for row in listed} == {"unreviewed"}

        # 2. Publish as it stands: the rules come from the scan and the knowledge base.
        assert "published version 2" in _ok(run_cli(["publish", "--site", key, "--yes"], env))
        config = httpx.get(f"{base}/v1/sites/{key}/config").json()
        assert config["version"] == 2 and config["blocking"]["rules"]

        # 3. Scan again: everything of the vendors waits for consent.
        served = len(web.log)
        second, second_id = _scan(web, env, key, tmp_path / "second.json")
        seen = _passes(second)
        for item in TAGGED_VENDOR_ITEMS:
            assert seen.get(item) == ("accept",), (item, seen.get(item))
        assert seen[TAGGED_NECESSARY] == ("none", "accept", "reject")
        assert second.violations == () and second.review == ()
        # The tag manager is necessary (the knowledge base's word): it runs before consent, in
        # every pass on every page, and only what it loads for statistics waits.
        gtm = [p for h, p in web.log[served:] if p.startswith("/gtm.js")]
        assert len(gtm) == 6
        assert {e.pass_ for e in second.consent_blocking if e.state == "held"} == {
            "none", "reject"}
        released = [e for e in second.consent_blocking if e.pass_ == "accept"]
        assert released and {e.state for e in released} == {"released"}

        # Both runs are in the site's history as jobs the command line ran, with the diff.
        history = _ok(run_cli(["scans", "--site", key], env))
        assert history.count(f"done     {web.url(HOST)}") == 2, history
        assert "by cli" in history and f"last scan {second_id}: since scan {first_id}" in history

        # 4. The admin's page of each scan says what it proves.
        assert admin.returncode == 0, admin.stderr
        with httpx.Client(base_url=base, follow_redirects=True) as client:
            login = client.get("/admin/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert token
            client.post("/admin/login", data={"csrf_token": token.group(1),
                                              "email": "dpo@proves.test", "password": PASSWORD})
            text = _page_text(client, f"/admin/sites/{key}/scans/{second_id}")
            held_urls = {e.url for e in second.consent_blocking
                         if e.pass_ in ("none", "reject") and e.state == "held"}
            assert (f"{len(held_urls)} resources blocked until consent, "
                    "0 still fired before consent") in text
            assert "released" in text
            before = _page_text(client, f"/admin/sites/{key}/scans/{first_id}")
            fired = re.search(r"0 resources blocked until consent, (\d+) still fired", before)
            assert fired and int(fired.group(1)) >= len(TAGGED_VENDOR_ITEMS), before[:2000]
            # Nothing was published when the first scan ran but the default: no rule.
            assert "No rule matches what set it" in before

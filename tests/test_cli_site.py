"""``cmp-server publish`` and ``cmp-server inventory`` (``cmp_server/cli_site.py``): the admin's
publish summary, lint and inventory from the command line, on the suite's database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from cmp_server.models import AuditEntry, ConfigVersion
from cmp_server.services import drafts, sites

from ._server import cli_env, run_cli


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env(database_url, tmp_path)


async def test_publish_shows_what_changes_then_publishes(
    app: Starlette, env: dict[str, str]
) -> None:
    created = run_cli(["create-site", "--name", "Kursgården", "--domain", "kurs.example"], env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    same = run_cli(["publish", "--site", key, "--yes"], env)
    assert same.returncode == 0, same.stderr
    assert "nothing to publish: the draft is the published version" in same.stdout

    site = await sites.get_site(key)
    await drafts.edit_texts(site, "sv", {"title": "Vi använder kakor"})
    dry = run_cli(["publish", "--site", key, "--dry-run"], env)
    assert dry.returncode == 0, dry.stderr
    assert "Draft of" in dry.stdout and "against version 1" in dry.stdout
    assert "text sv.title:" in dry.stdout and "'Vi använder kakor'" in dry.stdout
    assert "Visitors keep their choices" in dry.stdout
    assert await ConfigVersion.filter(site=site).count() == 1

    unsure = run_cli(["publish", "--site", key], env)  # no --yes, nobody to answer
    assert unsure.returncode != 0
    assert await ConfigVersion.filter(site=site).count() == 1
    done = run_cli(["publish", "--site", key, "--yes"], env)
    assert done.returncode == 0, done.stderr
    assert "published version 2" in done.stdout
    assert await AuditEntry.filter(action="config.publish", site=site).exists()


async def test_publish_refuses_while_the_lint_finds_errors(
    app: Starlette, env: dict[str, str]
) -> None:
    created = run_cli(["create-site", "--name", "Fjord", "--domain", "fjord.example"], env)
    key = created.stdout.strip()
    site = await sites.get_site(key)
    await drafts.add_purpose(site, "support", name={"en": "Support chat"})
    # A purpose without a description in use by the inventory, and a text missing: refused.
    from cmp_server.services import inventory

    await inventory.add_item(site, name="chat_id", purpose="support")
    result = run_cli(["publish", "--site", key, "--yes"], env)
    assert result.returncode != 0
    assert "error" in result.stdout and "not published" in result.stderr
    assert "+ " in result.stdout  # the new purpose is in the summary
    assert await ConfigVersion.filter(site=site).count() == 1


def test_publish_of_an_unknown_site_says_so(env: dict[str, str]) -> None:
    result = run_cli(["publish", "--site", "nosuchsite", "--yes"], env)
    assert result.returncode != 0
    assert "no site with key 'nosuchsite'" in result.stderr


async def test_inventory_as_table_json_and_csv(app: Starlette, env: dict[str, str]) -> None:
    import csv
    import io

    import orjson

    from cmp_server.services import inventory

    created = run_cli(["create-site", "--name", "Butik", "--domain", "butik.example"], env)
    key = created.stdout.strip()
    site = await sites.get_site(key)
    await inventory.add_vendor(site, key="google", name="Google", country="US")
    await inventory.add_item(site, name="_ga", purpose="statistics", vendor="google",
                             duration_days=400)
    await inventory.add_item(site, name="=HYPERLINK(\"http://x\")", source="scan",
                             review_status="unreviewed", domain=".butik.example")

    as_json = run_cli(["inventory", "--site", key, "--format", "json"], env)
    assert as_json.returncode == 0, as_json.stderr
    items = orjson.loads(as_json.stdout)
    assert [i["name"] for i in items] == ["=HYPERLINK(\"http://x\")", "_ga"]
    ga = items[1]
    assert (ga["vendor"], ga["purpose"], ga["duration_days"]) == ("google", "statistics", 400)
    assert ga["review_status"] == "reviewed" and ga["source"] == "manual"

    only = run_cli(["inventory", "--site", key, "--unreviewed", "--format", "json"], env)
    assert [i["name"] for i in orjson.loads(only.stdout)] == ["=HYPERLINK(\"http://x\")"]
    empty = run_cli(["inventory", "--site", key, "--flag", "violation", "--format", "json"],
                    env)
    assert orjson.loads(empty.stdout) == []

    as_csv = run_cli(["inventory", "--site", key, "--format", "csv"], env)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    # A scanned name that a spreadsheet would run as a formula is neutralised.
    assert rows[0]["name"] == "'=HYPERLINK(\"http://x\")"
    assert rows[1]["name"] == "_ga" and rows[1]["vendor"] == "google"

    table = run_cli(["inventory", "--site", key], env)
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "kind", "domain"]
    assert any(line.startswith("_ga ") and "statistics" in line for line in lines)
    assert "2 items" in table.stderr
    unknown = run_cli(["inventory", "--site", "nosuchsite"], env)
    assert unknown.returncode != 0 and "no site with key" in unknown.stderr


async def test_a_command_line_export_is_on_the_audit_log(
    app: Starlette, env: dict[str, str], tmp_path: Path
) -> None:
    created = run_cli(["create-site", "--name", "Export", "--domain", "export.example"], env)
    key = created.stdout.strip()
    out = tmp_path / "receipts.csv"
    result = run_cli(["export-receipts", "--site", key, "--from", "2026-01-01",
                      "--out", str(out)], env)
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("receipt_id,")
    entry = await AuditEntry.get(action="receipts.export", site=await sites.get_site(key))
    assert entry.actor == "system" and entry.after is not None
    assert entry.after["format"] == "csv"


async def test_recount_consents_rebuilds_the_counters_from_the_receipts(
    app: Starlette, client: Any, env: dict[str, str]
) -> None:
    from cmp_server.models import ConsentDaily
    from cmp_server.services import analytics

    from .factories import published_site, send_receipt

    site, _ = await published_site()
    for _ in range(3):
        await send_receipt(client, site.key)
    assert (await analytics.recent(site)).total == 3
    await ConsentDaily.filter(site_id=site.id).delete()  # as if written by an older server
    assert (await analytics.recent(site)).total == 0
    result = run_cli(["recount-consents", "--site", site.key], env)
    assert result.returncode == 0, result.stderr
    assert f"{site.key}: 3 receipts counted" in result.stdout
    assert (await analytics.recent(site)).total == 3
    again = run_cli(["recount-consents"], env)  # every site; right counters stay as they are
    assert again.returncode == 0 and f"{site.key}: 3 receipts counted" in again.stdout
    assert (await analytics.recent(site)).total == 3
    bad = run_cli(["recount-consents", "--from", "2026-05-01", "--to", "2026-04-01"], env)
    assert bad.returncode != 0 and "later than --to" in bad.stderr

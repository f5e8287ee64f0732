"""Scans in the admin (``admin/scans.py``): start one, the schedule, the history, a scan's
progress and its findings with what changed; bad input comes back beside its field and
starts nothing. The real scanner in a real browser: tests/admin/test_browser_scans.py."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from starlette.applications import Starlette

from cmp_server.models import AuditEntry, InventoryItem, ScanJob, ScanSchedule, Site
from cmp_server.services import scans
from cmp_server.services.scan_results import store_scan
from scanner import Violation

from ..factories import published_site, staff_member
from ..test_scans import finding, item, report
from ._client import sign_in, token_of

PAYLOAD = '<img src=x onerror="window.pwned=1">'


async def _signed_in(client: httpx.AsyncClient, role: str, site: Site) -> str:
    member = await staff_member(role)
    await sign_in(client, member.email)
    return await token_of(client, f"/admin/sites/{site.key}/scans")


def _start(token: str, **changes: object) -> dict[str, object]:
    form: dict[str, object] = {"csrf_token": token, "start_url": "http://127.0.0.1:9/",
                               "max_pages": "12", "passes": ["none", "reject"]}
    form.update(changes)
    return form


@pytest.fixture
def allow_private(app: Starlette) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"allow_private_scan_targets": True})
    admin = next(r for r in app.routes if getattr(r, "name", "") == "admin")
    admin.app.state.settings = app.state.settings  # type: ignore[attr-defined]


async def test_a_privacy_officer_starts_a_scan_and_follows_it(
    app: Starlette, client: httpx.AsyncClient, allow_private: None
) -> None:
    site, _ = await published_site()
    token = await _signed_in(client, "privacy", site)
    page = await client.get(f"/admin/sites/{site.key}/scans")
    assert page.status_code == 200
    assert "No scans yet." in page.text and "Never" in page.text and "Not scheduled" in page.text
    assert 'aria-current="page">Scans</a>' in page.text
    started = await client.post(f"/admin/sites/{site.key}/scans", data=_start(token))
    assert started.status_code == 303
    job = await ScanJob.get(site=site)
    assert started.headers["location"] == f"/admin/sites/{site.key}/scans/jobs/{job.id}"
    assert job.options == {"start_url": "http://127.0.0.1:9/", "max_pages": 12,
                           "passes": ["none", "reject"]}
    entry = await AuditEntry.get(action="scan.request")
    assert entry.object_id == str(job.id) and entry.actor == job.requested_by

    queued = await client.get(started.headers["location"])
    assert queued.status_code == 200 and "Waiting for a scan worker" in queued.text
    # Without JavaScript the page reloads itself; with htmx its box polls in place.
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in queued.text
    assert f'hx-get="/admin/sites/{site.key}/scans/jobs/{job.id}"' in queued.text
    assert ">Refresh</a>" in queued.text

    claimed = await scans.claim_job("w")
    assert claimed is not None
    await scans.heartbeat(claimed, {"phase": "visit", "pass": "reject", "pages_done": 2,
                                    "pages_total": 5})
    box = await client.get(started.headers["location"], headers={"HX-Request": "true"})
    assert box.status_code == 200 and "<html" not in box.text
    assert box.text.lstrip().startswith('<section id="scan-progress"')
    assert "Pass 2 of 2: Reject all" in box.text and "2 of 5 pages" in box.text
    assert 'value="70"' in box.text  # of the whole scan: one pass done, 2 of 5 in the next

    stored = await store_scan(site, report(item("_ga")), job=claimed)
    await scans.finish_job(claimed)
    done = await client.get(started.headers["location"])
    assert "http-equiv" not in done.text and "hx-get" not in done.text
    assert f'href="/admin/sites/{site.key}/scans/{stored.id}"' in done.text
    listed = await client.get(f"/admin/sites/{site.key}/scans")
    assert "first scan" in listed.text and "done" in listed.text


async def test_a_failed_scan_shows_why(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    await _signed_in(client, "viewer", site)
    job = await ScanJob.create(site=site, options={"start_url": "https://shop.example/"},
                               status="failed",
                               error="shop.example resolves to non-public address 10.0.0.7")
    page = await client.get(f"/admin/sites/{site.key}/scans/jobs/{job.id}")
    assert page.status_code == 200 and "The scan did not finish" in page.text
    assert "resolves to non-public address 10.0.0.7" in page.text
    assert "CMP_ALLOW_PRIVATE_SCAN_TARGETS=true allows private ones" in page.text
    listed = await client.get(f"/admin/sites/{site.key}/scans")
    assert "resolves to non-public address" in listed.text


async def test_a_private_target_says_which_setting_allows_it(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    token = await _signed_in(client, "privacy", site)
    page = await client.get(f"/admin/sites/{site.key}/scans")
    assert "CMP_ALLOW_PRIVATE_SCAN_TARGETS=true allows private ones" in page.text  # the hint
    refused = await client.post(f"/admin/sites/{site.key}/scans", data=_start(token))
    assert refused.status_code == 422
    error = re.search(r'<p class="field-error" id="e-start_url">([^<]*)</p>', refused.text)
    assert error is not None
    assert "127.0.0.1" in error.group(1) and "CMP_ALLOW_PRIVATE_SCAN_TARGETS=true" in error.group(1)
    assert 'value="http://127.0.0.1:9/"' in refused.text  # what was typed stays
    assert not await ScanJob.exists(site=site)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"start_url": ""}, "start_url"),
        ({"start_url": "http://127.0.0.1:9/\x00"}, "start_url"),
        ({"start_url": "javascript:alert(1)"}, "start_url"),
        ({"start_url": "http://" + "a" * 3000 + ".example/"}, "start_url"),
        ({"start_url": "http://ex\u202eample\u0000.se/"}, "start_url"),
        ({"max_pages": "abc"}, "max_pages"),
        ({"max_pages": "0"}, "max_pages"),
        ({"max_pages": "9" * 40}, "max_pages"),
        ({"max_pages": ""}, "max_pages"),
        ({"passes": []}, "passes"),
        ({"passes": ["none", "bogus"]}, "passes"),
        ({"passes": ["none\x00"]}, "passes"),
    ],
)
async def test_bad_start_forms_come_back_beside_the_field(
    app: Starlette, client: httpx.AsyncClient, allow_private: None,
    changes: dict[str, object], field: str,
) -> None:
    site, _ = await published_site()
    token = await _signed_in(client, "privacy", site)
    r = await client.post(f"/admin/sites/{site.key}/scans", data=_start(token, **changes))
    assert r.status_code == 422, r.text
    assert f'id="e-{field}"' in r.text
    assert not await ScanJob.exists(site=site)
    missing = await client.post(f"/admin/sites/{site.key}/scans", data={"csrf_token": token})
    assert missing.status_code == 422


async def test_viewers_read_but_start_nothing(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    token = await _signed_in(client, "viewer", site)
    page = await client.get(f"/admin/sites/{site.key}/scans")
    assert page.status_code == 200
    assert "Start a scan" not in page.text and "Add a schedule" not in page.text
    for path, form in ((f"/admin/sites/{site.key}/scans", _start(token)),
                       (f"/admin/sites/{site.key}/scans/schedules/new",
                        {"csrf_token": token, "passes": "none"})):
        r = await client.post(path, data=form)
        assert r.status_code == 403 and "needs the privacy role" in r.text
    assert not await ScanJob.exists(site=site)
    assert not await ScanSchedule.exists(site=site)


async def test_findings_and_changes(app: Starlette, client: httpx.AsyncClient) -> None:
    site, _ = await published_site()
    await _signed_in(client, "viewer", site)
    script = "https://www.googletagmanager.com/gtag/js?id=G-1"
    first = await store_scan(site, report(item("_ga", expires_days=400.0), item("gone_one")))
    second = await store_scan(site, report(
        item("_ga", expires_days=30.0, initiator=script,
             first_seen_url="https://shop.example/kurser", passes=("none", "accept")),
        item("_hjid", "statistics", "hotjar"),
        violations=(finding(Violation, "_ga", "statistics").model_copy(
            update={"url": "https://shop.example/kurser"}),),
    ))
    page = await client.get(f"/admin/sites/{site.key}/scans/{second.id}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert f'href="/admin/sites/{site.key}/scans/{first.id}"' in page.text  # the one before
    new = text[text.index("<h3 id=\"new\">New"):text.index("<h3 id=\"changed\">Changed")]
    assert "_hjid" in new and "Map in the inventory" in new
    # A new item is one click from its inventory entry, to map it.
    hotjar = await InventoryItem.get(site=site, name="_hjid")
    link = re.search(r'<a class="map" href="([^"]+)"', new)
    assert link is not None and link.group(1) == f"/admin/sites/{site.key}/inventory/{hotjar.id}"
    entry = await client.get(link.group(1))
    assert entry.status_code == 200 and "_hjid" in entry.text
    # An item whose entry is gone (deleted since) leads to the inventory searched by its name.
    await hotjar.delete()
    again = (await client.get(f"/admin/sites/{site.key}/scans/{second.id}")).text
    link = re.search(r'<a class="map" href="([^"]+)"', again)
    assert link is not None and link.group(1) == f"/admin/sites/{site.key}/inventory?q=_hjid"
    changed = text[text.index("<h3 id=\"changed\">Changed"):text.index("<h3 id=\"gone\">Gone")]
    assert "_ga" in changed and "duration: <del>400 days</del> → <ins>30 days</ins>" in changed
    assert "gone_one" in text[text.index("<h3 id=\"gone\">Gone"):]
    violations = text[text.index('id="violations"'):text.index('id="review"')]
    assert "_ga" in violations and "No choice" in violations
    assert "https://shop.example/kurser" in violations and script in violations
    first_page = await client.get(f"/admin/sites/{site.key}/scans/{first.id}")
    assert "first scan: nothing to compare" in first_page.text
    other, _ = await published_site("Other", ("other.example",))
    for path in (f"/admin/sites/{other.key}/scans/{second.id}",
                 f"/admin/sites/{site.key}/scans/x", f"/admin/sites/{site.key}/scans/-1",
                 f"/admin/sites/{site.key}/scans/jobs/x",
                 f"/admin/sites/{site.key}/scans/jobs/{10**15}",
                 f"/admin/sites/{site.key}/scans?before=x", "/admin/sites/nope/scans"):
        assert (await client.get(path)).status_code == 404, path


async def test_what_a_scan_found_is_shown_as_text(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    await _signed_in(client, "viewer", site)
    scan = await store_scan(site, report(
        item(PAYLOAD, "unclassified", PAYLOAD, initiator=f"https://x.example/{PAYLOAD}",
             first_seen_url=f"https://shop.example/?q={PAYLOAD}"),
    ))
    for path in (f"/admin/sites/{site.key}/scans/{scan.id}", f"/admin/sites/{site.key}/scans"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "<img src=x" not in page.text, path
    assert "&lt;img src=x" in (await client.get(f"/admin/sites/{site.key}/scans/{scan.id}")).text

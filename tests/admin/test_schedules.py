"""Scan schedules in the admin (``admin/schedules.py``): listed on the scans page with their
next run, added, changed (over the version read, else the conflict card), deleted; bad input
comes back beside its field (422) and saves nothing; viewers read; CSRF and escaping. The
pages at 1366 and 320 px: tests/admin/test_browser_scans.py."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.applications import Starlette

from cmp_server.models import AuditEntry, ScanSchedule, Site

from ..factories import published_site, staff_member
from ._client import sign_in, token_of
from .test_scans import allow_private  # noqa: F401 - a fixture

PAYLOAD = '"><script>window.pwned=1</script>'


async def _site() -> Site:
    site, _ = await published_site("Shop", ("127.0.0.1", "localhost"))
    return site


async def _signed_in(client: httpx.AsyncClient, role: str, site: Site) -> str:
    member = await staff_member(role)
    await sign_in(client, member.email)
    return await token_of(client, f"/admin/sites/{site.key}/scans")


def _form(token: str, **changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "csrf_token": token, "start_url": "http://127.0.0.1:9/",
        "extra_urls": "http://127.0.0.1:9/checkout\r\nhttp://localhost:9/landing",
        "max_pages": "12", "passes": ["none", "reject"], "frequency": "weekly",
        "time_of_day": "04:30", "weekday": "2", "day_of_month": "1", "enabled": "on",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


async def test_a_schedule_is_added_listed_changed_and_deleted(
    app: Starlette, client: httpx.AsyncClient, allow_private: None  # noqa: F811
) -> None:
    site = await _site()
    token = await _signed_in(client, "privacy", site)
    scans_page = f"/admin/sites/{site.key}/scans"
    page = await client.get(scans_page)
    assert "No scan runs on a schedule." in page.text and "Not scheduled" in page.text
    new = await client.get(f"{scans_page}/schedules/new")
    assert new.status_code == 200 and 'name="csrf_token"' in new.text

    added = await client.post(f"{scans_page}/schedules/new", data=_form(token))
    assert added.status_code == 303, added.text
    assert added.headers["location"] == f"{scans_page}#schedules"
    made = await ScanSchedule.get(site=site)
    assert (made.start_url, made.extra_urls, made.max_pages, made.passes) == (
        "http://127.0.0.1:9/", ["http://127.0.0.1:9/checkout", "http://localhost:9/landing"],
        12, ["none", "reject"])
    assert (made.frequency, made.time_of_day, made.weekday, made.enabled) == (
        "weekly", "04:30", 2, True)
    assert await AuditEntry.filter(action="scan.schedule.create", site=site).count() == 1

    listed = await client.get(scans_page)
    assert "Weekly on Wednesday at 04:30 UTC" in listed.text
    assert "and 2 more pages" in listed.text and "Up to 12 pages" in listed.text
    assert made.next_run_at is not None
    nxt = made.next_run_at.strftime("%Y-%m-%d %H:%M")
    assert "Next: <time" in listed.text and nxt in listed.text
    assert "Not scheduled" not in listed.text  # the overview's next scan is the schedule's
    dashboard = await client.get("/admin/")
    assert nxt in dashboard.text

    edit_path = f"{scans_page}/schedules/{made.id}"
    edit = await client.get(edit_path)
    version = re.search(r'name="version" value="(\d+)"', edit.text)
    assert edit.status_code == 200 and version is not None
    changed = await client.post(edit_path, data=_form(
        token, frequency="monthly", day_of_month="15", extra_urls="", version=version.group(1),
        time_of_day="05:45:00"))  # a time input that sends seconds
    assert changed.status_code == 303, changed.text
    again = await ScanSchedule.get(id=made.id)
    assert (again.frequency, again.day_of_month, again.extra_urls) == ("monthly", 15, [])
    assert again.time_of_day == "05:45"
    assert again.next_run_at is not None and again.next_run_at.day == 15

    # The form read before that change: refused, with who changed what, and nothing lost.
    stale = await client.post(edit_path, data=_form(token, max_pages="3",
                                                    version=version.group(1)))
    assert stale.status_code == 409
    assert "Not saved: someone changed this schedule" in stale.text
    assert 'value="3"' in stale.text  # what they typed is still in the form
    assert (await ScanSchedule.get(id=made.id)).max_pages == 12
    fresh = re.search(r'name="version" value="(\d+)"', stale.text)
    assert fresh is not None and fresh.group(1) != version.group(1)
    kept = await client.post(edit_path, data=_form(token, max_pages="3", version=fresh.group(1)))
    assert kept.status_code == 303 and (await ScanSchedule.get(id=made.id)).max_pages == 3

    # Deleting over an old version is refused as well; over the current one it goes.
    old = await client.post(f"{edit_path}/delete", data={"csrf_token": token,
                                                         "version": version.group(1)})
    assert old.status_code == 409 and await ScanSchedule.exists(id=made.id)
    now = re.search(r'name="version" value="(\d+)"', (await client.get(edit_path)).text)
    assert now is not None
    gone = await client.post(f"{edit_path}/delete", data={"csrf_token": token,
                                                          "version": now.group(1)})
    assert gone.status_code == 303 and not await ScanSchedule.exists(id=made.id)
    assert await AuditEntry.filter(action__startswith="scan.schedule.").count() == 4
    assert (await client.get(edit_path)).status_code == 404


@pytest.mark.parametrize(("changes", "field"), [
    ({"start_url": "https://elsewhere.example/"}, "start_url"),
    ({"start_url": "javascript:alert(1)"}, "start_url"),
    ({"extra_urls": "https://evil.example/page"}, "extra_urls"),
    ({"extra_urls": "\n".join(f"http://127.0.0.1:9/{n}" for n in range(60))}, "extra_urls"),
    ({"extra_urls": "http://127.0.0.1:9/a\x00"}, "extra_urls"),
    ({"max_pages": "0"}, "max_pages"),
    ({"max_pages": "2001"}, "max_pages"),
    ({"max_pages": "abc"}, "max_pages"),
    ({"max_pages": "2"}, "max_pages"),  # three pages listed
    ({"passes": None}, "passes"),
    ({"passes": ["bogus"]}, "passes"),
    ({"time_of_day": "25:00"}, "time_of_day"),
    ({"time_of_day": ""}, "time_of_day"),
    ({"frequency": "hourly"}, "frequency"),
    ({"weekday": "9"}, "weekday"),
    ({"day_of_month": "31"}, "day_of_month"),
])
async def test_bad_schedules_come_back_beside_the_field(
    app: Starlette, client: httpx.AsyncClient, allow_private: None,  # noqa: F811
    changes: dict[str, object], field: str,
) -> None:
    site = await _site()
    token = await _signed_in(client, "privacy", site)
    r = await client.post(f"/admin/sites/{site.key}/scans/schedules/new",
                          data=_form(token, **changes))
    assert r.status_code == 422, r.text
    assert f'id="e-{field}"' in r.text, re.findall(r'id="e-[a-z_]+"', r.text)
    assert not await ScanSchedule.exists(site=site)


async def test_a_private_page_says_which_setting_allows_it_and_typed_text_is_escaped(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site = await _site()
    token = await _signed_in(client, "privacy", site)
    r = await client.post(f"/admin/sites/{site.key}/scans/schedules/new", data=_form(token))
    assert r.status_code == 422
    assert 'id="e-start_url"' in r.text and "CMP_ALLOW_PRIVATE_SCAN_TARGETS=true" in r.text
    r = await client.post(f"/admin/sites/{site.key}/scans/schedules/new",
                          data=_form(token, extra_urls=f"http://evil.example/{PAYLOAD}"))
    assert r.status_code == 422
    assert "<script>window.pwned" not in r.text and "&lt;script&gt;" in r.text
    assert not await ScanSchedule.exists(site=site)


async def test_viewers_read_schedules_and_change_nothing(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site = await _site()
    made = await ScanSchedule.create(site=site, start_url="https://www.shop.example/",
                                     passes=["none"])
    token = await _signed_in(client, "viewer", site)
    path = f"/admin/sites/{site.key}/scans/schedules/{made.id}"
    page = await client.get(path)
    assert page.status_code == 200 and "Changing schedules needs the privacy role." in page.text
    assert "<fieldset disabled>" in page.text and "Delete schedule" not in page.text
    for url in (path, f"{path}/delete", f"/admin/sites/{site.key}/scans/schedules/new"):
        r = await client.post(url, data=_form(token, start_url="https://www.shop.example/x"))
        assert r.status_code == 403, url
    assert (await ScanSchedule.get(id=made.id)).start_url == "https://www.shop.example/"


async def test_csrf_and_other_sites_schedules(
    app: Starlette, client: httpx.AsyncClient, allow_private: None  # noqa: F811
) -> None:
    site = await _site()
    other, _ = await published_site("Other", ("other.example",))
    theirs = await ScanSchedule.create(site=other, start_url="https://other.example/",
                                       passes=["none"])
    token = await _signed_in(client, "privacy", site)
    no_token = await client.post(f"/admin/sites/{site.key}/scans/schedules/new",
                                 data=_form(token, csrf_token="forged"))
    assert no_token.status_code == 403 and not await ScanSchedule.exists(site=site)
    for path in (f"/admin/sites/{site.key}/scans/schedules/{theirs.id}",
                 f"/admin/sites/{site.key}/scans/schedules/x1",
                 f"/admin/sites/{site.key}/scans/schedules/{'9' * 30}"):
        assert (await client.get(path)).status_code == 404, path
    r = await client.post(f"/admin/sites/{site.key}/scans/schedules/{theirs.id}/delete",
                          data={"csrf_token": token})
    assert r.status_code == 404 and await ScanSchedule.exists(id=theirs.id)

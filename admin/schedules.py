"""A site's scan schedules (``cmp_server.services.schedules``): add one, change it, delete it.
The scans page lists them with their next run; everyone signed in reads, the privacy role
changes. An edit carries the version it was read at: a save over someone else's change is
refused and shows what changed (``_conflicts``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.errors import StaleEdit
from cmp_server.models import ScanSchedule, Site
from cmp_server.services import revisions, schedules
from cmp_server.services.schedules import ScheduleChange

from ._conflicts import meanwhile, version_of, without_form_error
from ._conflicts import read_at as _read_at
from ._forms import UNREFUSED, Refusal, refusal, save_form, text_of, whole_number
from ._pages import render
from ._security import requires
from .scans import PASS_LABELS

__all__ = ["routes"]

LABELS = {"start_url": "Start URL", "extra_urls": "Also crawl", "all_domains": "All domains",
          "max_pages": "Page budget", "passes": "Passes", "frequency": "Runs",
          "time_of_day": "Time of day (UTC)", "weekday": "Weekday",
          "day_of_month": "Day of the month", "enabled": "On"}
_DAYS = frozenset("0123456")
NEW = {"start_url": "", "extra_urls": "", "all_domains": False, "max_pages": "30",
       "passes": ["none", "accept", "reject"], "frequency": "daily", "time_of_day": "03:00",
       "weekday": "0", "day_of_month": "1", "enabled": True}


def _values(form: FormData) -> dict[str, Any]:
    lines = text_of(form, "extra_urls").splitlines()
    return {
        "start_url": text_of(form, "start_url"),
        # One more than allowed, so that too many are refused rather than cut silently.
        "extra_urls": "\n".join(lines[:schedules.MAX_EXTRA_URLS + 1]),
        "all_domains": text_of(form, "all_domains") == "on",
        "max_pages": text_of(form, "max_pages").strip(),
        "passes": [p for p in form.getlist("passes") if isinstance(p, str)][:3],
        "frequency": text_of(form, "frequency"),
        "time_of_day": _minutes(text_of(form, "time_of_day").strip()),
        "weekday": text_of(form, "weekday").strip(),
        "day_of_month": text_of(form, "day_of_month").strip(),
        "enabled": text_of(form, "enabled") == "on",
    }


def _minutes(value: str) -> str:
    """``04:30:00`` (a time input with seconds) as ``04:30``; anything else as typed, for the
    service to refuse."""
    if len(value) == 8 and value.endswith(":00") and value[2] == ":":
        return value[:5]
    return value[:8]


def _change(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "extra_urls": values["extra_urls"].splitlines()}


def _current(schedule: ScanSchedule) -> dict[str, Any]:
    return {
        "start_url": schedule.start_url or "", "extra_urls": "\n".join(schedule.extra_urls),
        "all_domains": schedule.all_domains, "max_pages": str(schedule.max_pages),
        "passes": list(schedule.passes), "frequency": schedule.frequency,
        "time_of_day": schedule.time_of_day, "weekday": str(schedule.weekday),
        "day_of_month": str(schedule.day_of_month), "enabled": schedule.enabled,
    }


def _compared(values: dict[str, Any]) -> dict[str, Any]:
    """The form's values as the conflict card compares and shows them."""
    if not values:
        return {}
    shown = dict(values)
    shown["extra_urls"] = [u for u in str(values.get("extra_urls", "")).splitlines() if u]
    shown["frequency"] = schedules.FREQUENCIES.get(str(values.get("frequency")),
                                                   values.get("frequency"))
    day = str(values.get("weekday", ""))
    shown["weekday"] = schedules.WEEKDAYS[int(day)] if day in _DAYS else day
    return shown


Page = Callable[..., Awaitable[Response]]


def _page(request: Request, site: Site, schedule_id: int | None) -> Page:
    async def page(values: dict[str, Any] | None, refused: Refusal = UNREFUSED,
                   read_at: int | None = None) -> Response:
        schedule = version = conflict = None
        if schedule_id is not None:
            subject = revisions.schedule(site, schedule_id)
            version = await revisions.stamp(subject)  # before the values: at most as new
            schedule = await schedules.get_schedule(site, schedule_id)

            async def stored() -> dict[str, Any]:
                return _compared(_current(await schedules.get_schedule(site, schedule_id)))

            conflict = await meanwhile(
                refused, subject, read_at, stored=stored, typed=_compared(values or {}),
                labels=LABELS,
                discard=request.url_for("admin:scan_schedule", key=site.key,
                                        schedule_id=str(schedule_id)).path,
                form_id="form-schedule")
        shown = values or (_current(schedule) if schedule is not None else NEW)
        return render(request, "admin/schedule.html", {
            "site": site, "tab": "scans", "schedule": schedule, "values": shown,
            "version": conflict.version if conflict else version, "conflict": conflict,
            "errors": without_form_error(refused), "frequencies": schedules.FREQUENCIES,
            "weekdays": schedules.WEEKDAYS, "pass_labels": PASS_LABELS,
            "max_pages": schedules.MAX_PAGES, "max_extra": schedules.MAX_EXTRA_URLS,
            "describe": schedules.describe,
        }, refused.status)

    return page


async def _save(request: Request, site: Site, schedule_id: int | None) -> Response:
    form = await request.form()
    values = _values(form)
    read_at = _read_at(form)
    page = _page(request, site, schedule_id)
    allow_private = request.app.state.settings.allow_private_scan_targets

    async def save(change: ScheduleChange) -> ScanSchedule:
        if schedule_id is None:
            return await schedules.create_schedule(site, change, by=request.state.actor,
                                                   allow_private=allow_private)
        return await schedules.update_schedule(site, schedule_id, change,
                                               by=request.state.actor,
                                               version=version_of(form),
                                               allow_private=allow_private)

    return await save_form(
        ScheduleChange, _change(values), save,
        done=lambda _: RedirectResponse(
            request.url_for("admin:scans", key=site.key).path + "#schedules", 303),
        again=lambda refused: page(values, refused, read_at),
        messages={"passes": "Choose at least one pass.",
                  "frequency": "Choose how often it runs.",
                  "time_of_day": "Give a time as HH:MM, from 00:00 to 23:59 (UTC).",
                  "weekday": "Choose a weekday.",
                  "day_of_month": "Give a day from 1 to 28 (every month has it)."},
    )


def _schedule_id(request: Request) -> int:
    found = whole_number(request.path_params["schedule_id"], 9)
    return found if found is not None else 0  # 0 is no schedule: the service says 404


@requires("privacy", site=True)
async def new(request: Request, site: Site) -> Response:
    if request.method == "POST":
        return await _save(request, site, None)
    return await _page(request, site, None)(None)


@requires("viewer", site=True, post="privacy")
async def edit(request: Request, site: Site) -> Response:
    schedule_id = _schedule_id(request)
    if request.method == "POST":
        return await _save(request, site, schedule_id)
    await schedules.get_schedule(site, schedule_id)  # 404 before anything else
    return await _page(request, site, schedule_id)(None)


@requires("privacy", site=True)
async def delete(request: Request, site: Site) -> Response:
    schedule_id = _schedule_id(request)
    form = await request.form()
    try:
        await schedules.delete_schedule(site, schedule_id, by=request.state.actor,
                                        version=version_of(form))
    except StaleEdit as exc:
        schedule = await schedules.get_schedule(site, schedule_id)
        return await _page(request, site, schedule_id)(_current(schedule), refusal(exc),
                                                       _read_at(form))
    return RedirectResponse(request.url_for("admin:scans", key=site.key).path + "#schedules",
                            303)


routes = [
    Route("/sites/{key}/scans/schedules/new", new, methods=["GET", "POST"],
          name="scan_schedule_new"),
    Route("/sites/{key}/scans/schedules/{schedule_id}", edit, methods=["GET", "POST"],
          name="scan_schedule"),
    Route("/sites/{key}/scans/schedules/{schedule_id}/delete", delete, methods=["POST"],
          name="scan_schedule_delete"),
]

"""Automatic blocking: the rules the next publish will carry (derived from the inventory, the
latest scan and the knowledge base, and staff's own), what each holds back and why, and the
mode (enforce, report only, off). Staff add a rule for a host or URL prefix, change what a
derived one waits for, turn one off or on, and remove their own; every change is audited by
the service. Everyone signed in reads; the privacy role changes. Nothing here reaches
visitors before it is published (``admin/publish.py``).

Every form carries the version the page was read at: the rules' (``revisions.blocking``, one
for the site's list) or, for the mode, the site settings'. A change over a newer version is
refused with the conflict card (``admin/_conflicts.py``): who changed which rule meanwhile,
and the form again at the version now."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.errors import InvalidRequest
from cmp_server.models import Site
from cmp_server.services import blocking, drafts, revisions, sites

from ._conflicts import meanwhile, version_of, without_form_error
from ._conflicts import read_at as _read_at
from ._forms import UNREFUSED, Form, Refusal, save_form, text_of
from ._pages import render
from ._security import requires

__all__ = ["routes"]

MODES = {
    "enforce": ("Block", "Matching scripts, frames, pixels and beacons wait for consent."),
    "report": ("Report only", "Nothing is blocked; the banner says in the browser's console "
               "(and window.cmp.blocked()) what it would block. Try rules safely first."),
    "off": ("Off", "No rules are published: only tags marked by hand wait for consent."),
}


class ModeForm(Form):
    mode: Literal["enforce", "report", "off"]


class RuleForm(Form):
    target: str = Field(min_length=1, max_length=2100)
    purposes: tuple[str, ...] = ()
    never: bool = False  # never block it: an exemption


class TargetForm(Form):
    target: str = Field(min_length=1, max_length=2100)
    enabled: bool = True


async def _page(request: Request, site: Site, *, values: dict[str, object] | None = None,
                refused: Refusal = UNREFUSED, form_id: str = "", read_at: int | None = None,
                ) -> Response:
    """``form_id``: the form refused, whose submit the conflict card offers again."""
    # The versions first, then what the page shows (at least as new as the versions).
    subjects = {"rules": revisions.blocking(site), "mode": revisions.settings(site)}
    stamps = await revisions.stamps(subjects.values())
    versions = {name: stamps[subject.key] for name, subject in subjects.items()}
    site = await sites.get_site(site.key)
    part = "mode" if form_id == "form-mode" else "rules"

    async def stored() -> dict[str, object]:
        return {}

    conflict = await meanwhile(
        refused, subjects[part], read_at, stored=stored, typed={}, labels={},
        discard=request.url_for("admin:blocking", key=site.key).path, form_id=form_id)
    if conflict is not None:
        versions[part] = conflict.version
    rules = await blocking.derive_rules(site)
    purposes = await drafts.draft_purposes(site)
    names = {p.key: p.name.get(site.default_language) or p.key for p in purposes}
    mode = site.options.get("auto_blocking", "enforce")
    if conflict is not None and part == "mode" and values:
        mode = str(values["mode"])  # the form again with what was chosen
    return render(request, "admin/blocking.html", {
        "site": site, "tab": "blocking", "rules": rules, "mode": mode, "modes": MODES,
        "purposes": [p for p in purposes if not p.required], "names": names,
        "published_cap": blocking.MAX_RULES,
        "values": (values if values and part == "rules" else
                   {"target": "", "purposes": [], "never": False}),
        "versions": versions, "conflict": conflict,
        "errors": without_form_error(refused), "saved": request.query_params.get("saved"),
    }, refused.status)


def _back(request: Request, site: Site, what: str) -> Response:
    return RedirectResponse(
        f"{request.url_for('admin:blocking', key=site.key).path}?saved={what}", 303)


@requires("viewer", site=True)
async def blocking_page(request: Request, site: Site) -> Response:
    return await _page(request, site)


@requires("privacy", site=True)
async def blocking_mode(request: Request, site: Site) -> Response:
    form = await request.form()

    async def save(parsed: ModeForm) -> None:
        await sites.update_site(site, options={"auto_blocking": parsed.mode},
                                by=request.state.actor, version=version_of(form))

    return await save_form(
        ModeForm, {"mode": text_of(form, "mode")}, save,
        done=lambda _: _back(request, site, "mode"),
        again=lambda refused: _page(request, site, values={"mode": text_of(form, "mode")},
                                    refused=refused, form_id="form-mode",
                                    read_at=_read_at(form)),
        names={"mode": "mode"}, messages={"mode": "choose block, report only or off"},
    )


@requires("privacy", site=True)
async def blocking_rule(request: Request, site: Site) -> Response:
    form = await request.form()
    values: dict[str, object] = {
        "target": text_of(form, "target"),
        "purposes": tuple(v for v in form.getlist("purposes") if isinstance(v, str)),
        "never": text_of(form, "never") == "on",
    }

    async def save(parsed: RuleForm) -> blocking.Rule:
        if not parsed.never and not parsed.purposes:
            raise InvalidRequest("choose what it waits for, or that it is never blocked",
                                 field="purposes")
        chosen = () if parsed.never else parsed.purposes
        return await blocking.set_rule(site, parsed.target, chosen, by=request.state.actor,
                                       version=version_of(form))

    return await save_form(
        RuleForm, values, save, done=lambda _: _back(request, site, "rule"),
        again=lambda refused: _page(request, site, values=values, refused=refused,
                                    form_id="form-rule", read_at=_read_at(form)),
    )


@requires("privacy", site=True)
async def blocking_toggle(request: Request, site: Site) -> Response:
    form = await request.form()

    async def save(parsed: TargetForm) -> blocking.Rule:
        return await blocking.set_rule(site, parsed.target, None, enabled=parsed.enabled,
                                       by=request.state.actor, version=version_of(form))

    target = text_of(form, "target")
    return await save_form(
        TargetForm, {"target": target, "enabled": text_of(form, "enabled") == "on"},
        save, done=lambda rule: _back(request, site, "on" if rule.enabled else "off"),
        again=lambda refused: _page(request, site, refused=refused,
                                    form_id=f"form-toggle-{target}", read_at=_read_at(form)),
        names={"target": "form", "enabled": "form"},
    )


@requires("privacy", site=True)
async def blocking_remove(request: Request, site: Site) -> Response:
    form = await request.form()

    async def save(parsed: TargetForm) -> None:
        await blocking.remove_rule(site, parsed.target, by=request.state.actor,
                                   version=version_of(form))

    target = text_of(form, "target")
    return await save_form(
        TargetForm, {"target": target}, save,
        done=lambda _: _back(request, site, "removed"),
        again=lambda refused: _page(request, site, refused=refused,
                                    form_id=f"form-remove-{target}", read_at=_read_at(form)),
        names={"target": "form"},
    )


routes = [
    Route("/sites/{key}/blocking", blocking_page, methods=["GET"], name="blocking"),
    Route("/sites/{key}/blocking/mode", blocking_mode, methods=["POST"], name="blocking_mode"),
    Route("/sites/{key}/blocking/rules", blocking_rule, methods=["POST"], name="blocking_rule"),
    Route("/sites/{key}/blocking/toggle", blocking_toggle, methods=["POST"],
          name="blocking_toggle"),
    Route("/sites/{key}/blocking/remove", blocking_remove, methods=["POST"],
          name="blocking_remove"),
]

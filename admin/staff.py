"""Staff accounts, for owners of every site: add one, and on an account's own page change its
role, disable or enable it, lift its sign-in lock, issue a one-time password-reset link, reset
its two-factor sign-in, limit it to chosen sites, or remove it
(``cmp_server.services.staff_lifecycle``, ``password_reset``, ``two_factor``, ``staff_sites``);
on the list, whether owners must use two-factor sign-in (``installation``). Each action is a
small form of its own that posts to its own route and comes back to the account's page with
what it did, or with why it was refused beside the form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.errors import NotFound
from cmp_server.services import (
    installation,
    password_reset,
    revisions,
    sites,
    staff,
    staff_lifecycle,
    staff_sites,
    two_factor,
)

from ._conflicts import meanwhile, version_of, without_form_error
from ._conflicts import read_at as _read_at
from ._forms import UNREFUSED, Form, Refusal, save_form, text_of, whole_number
from ._pages import render
from ._security import requires

__all__ = ["routes"]

DONE = {  # ?did=… on the account's page: what the last action did
    "role": "The role is changed.",
    "disabled": "The account is disabled and signed out everywhere.",
    "enabled": "The account is enabled again.",
    "unlocked": "The account is unlocked: it can sign in again.",
    "two_factor": "Two-factor sign-in is off for the account: it signs in with its password "
                  "until it sets it up again.",
    "sites": "The account's sites are saved.",
}


class NewStaff(Form):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(default="", max_length=200)
    role: Literal["owner", "privacy", "viewer"]
    password: str = Field(min_length=staff.MIN_PASSWORD, max_length=staff.MAX_PASSWORD)


class RoleForm(Form):
    role: Literal["owner", "privacy", "viewer"]


class ActiveForm(Form):
    active: Literal["yes", "no"]


class RemoveForm(Form):
    confirm: Literal["yes"]


class Nothing(Form):
    """A form with nothing to fill: a button."""


class PolicyForm(Form):
    owner_two_factor: Literal["yes", "no"]


class SitesForm(Form):
    limited: bool
    sites: list[int] = Field(default=[], max_length=10_000)


MESSAGES = {
    "role": "Choose owner, privacy or viewer.",
    "active": "Choose to disable or to enable the account.",
    "confirm": "Tick the box to confirm that the account goes for good.",
    "owner_two_factor": "Choose to require two-factor sign-in for owners or not.",
    "limited": "Choose every site or the chosen sites.",
    "sites": "Choose sites from the list.",
}


@requires("owner")
async def staff_list(request: Request) -> Response:
    async def page(values: dict[str, str], refused: Refusal = UNREFUSED) -> Response:
        return render(request, "admin/staff.html", {
            "accounts": await staff_lifecycle.accounts(), "roles": staff.ROLES,
            "errors": refused.errors, "values": values,
            "removed": request.query_params.get("removed") == "1",
            "owner_two_factor": await installation.owner_two_factor(),
            "policy_saved": request.query_params.get("policy") == "1",
        }, refused.status)

    if request.method != "POST":
        return await page({})
    form = await request.form()
    values = {k: text_of(form, k) for k in ("email", "name", "role")}
    return await save_form(
        NewStaff, {**values, "password": text_of(form, "password")},
        lambda new: staff.create_staff(new.email, new.password, new.role, name=new.name,
                                       by=request.state.actor),
        done=lambda row: RedirectResponse(
            request.url_for("admin:staff_account", staff_id=str(row.id)).path, 303),
        again=lambda refused: page(values, refused),
    )


def _staff_id(request: Request) -> int:
    staff_id = whole_number(request.path_params["staff_id"], 9)
    if staff_id is None:
        raise NotFound("there is no such staff account")
    return staff_id


# The versioned forms' fields as a conflict compares them.
LABELS = {"role": {"role": "Role"}, "active": {"active": "Enabled (can sign in)"}}


async def _stored(staff_id: int) -> dict[str, str]:
    account = await staff_lifecycle.account(staff_id)
    return {"role": account.role, "active": "yes" if account.active else "no"}


async def _page(
    request: Request, staff_id: int, refused: Refusal = UNREFUSED, *,
    issued: password_reset.IssuedReset | None = None, form: str = "",
    typed: dict[str, str] | None = None, read_at: int | None = None,
) -> Response:
    subject = revisions.staff(staff_id)
    version = await revisions.stamp(subject)  # before the account: at most as new
    account = await staff_lifecycle.account(staff_id)
    granted = await staff_sites.grants(staff_id) or frozenset()
    conflict = await meanwhile(
        refused, subject, read_at, stored=lambda: _stored(staff_id), typed=typed or {},
        labels=LABELS.get(form, {}),
        discard=request.url_for("admin:staff_account", staff_id=str(staff_id)).path,
        form_id=f"form-{form}")
    return render(request, "admin/staff_account.html", {
        "account": account, "roles": staff.ROLES,
        "sites": await sites.list_sites(), "granted": granted,
        "errors": without_form_error(refused), "refused_form": form, "issued": issued,
        "did": DONE.get(request.query_params.get("did", "")),
        "version": conflict.version if conflict else version, "conflict": conflict,
        "typed": typed or {},
    }, refused.status)


@requires("owner")
async def staff_account(request: Request) -> Response:
    return await _page(request, _staff_id(request))


def _action(
    name: str,
    form: type[Form],
    fields: tuple[str, ...],
    service: Callable[[Request, int, Any, int | None], Awaitable[Any]],
    did: Callable[[Any], str],
) -> Callable[[Request], Awaitable[Response]]:
    """A POST route for one of the account page's forms: parse, call, back to the page."""

    @requires("owner")
    async def endpoint(request: Request) -> Response:
        staff_id = _staff_id(request)
        data = await request.form()
        typed = {f: text_of(data, f) for f in fields}
        read_at = _read_at(data)

        async def service_of(parsed: Any) -> Any:
            return await service(request, staff_id, parsed, version_of(data))

        def done(result: Any) -> Response:
            path = request.url_for("admin:staff_account", staff_id=str(staff_id)).path
            return RedirectResponse(f"{path}?did={did(result)}", 303)

        return await save_form(
            form, typed, service_of, done=done,
            again=lambda refused: _page(request, staff_id, refused, form=name, typed=typed,
                                        read_at=read_at),
            messages=MESSAGES,
        )

    endpoint.__name__ = f"staff_{name}"
    return endpoint


async def _role(request: Request, staff_id: int, form: RoleForm, version: int | None) -> None:
    await staff_lifecycle.set_role(staff_id, form.role, by=request.state.actor,
                                   version=version)


async def _active(
    request: Request, staff_id: int, form: ActiveForm, version: int | None
) -> bool:
    active = form.active == "yes"
    await staff_lifecycle.set_active(staff_id, active, by=request.state.actor,
                                     version=version)
    return active


async def _unlock(request: Request, staff_id: int, _: Nothing, version: int | None) -> None:
    """Lifting the lock undoes nobody's edit (it moves no version), but is refused when the
    account changed since the page was read (``revisions.check``)."""
    await staff_lifecycle.unlock(staff_id, by=request.state.actor, version=version)


async def _two_factor(
    request: Request, staff_id: int, _: Nothing, version: int | None
) -> None:
    """Resetting a lost phone: as the unlock."""
    await two_factor.reset(staff_id, by=request.state.actor, version=version)


@requires("owner")
async def staff_sites_set(request: Request) -> Response:
    staff_id = _staff_id(request)
    data = await request.form()
    chosen = [v for v in data.getlist("sites") if isinstance(v, str)]

    async def limit(form: SitesForm) -> None:
        await staff_sites.set_limits(staff_id, form.limited, form.sites,
                                     by=request.state.actor, version=version_of(data))

    path = request.url_for("admin:staff_account", staff_id=str(staff_id)).path
    return await save_form(
        SitesForm, {"limited": text_of(data, "limited") == "chosen", "sites": chosen}, limit,
        done=lambda _: RedirectResponse(f"{path}?did=sites", 303),
        again=lambda refused: _page(
            request, staff_id, refused, form="sites", read_at=_read_at(data),
            typed={"limited": text_of(data, "limited"), "sites": ",".join(chosen)}),
        messages=MESSAGES,
    )


@requires("owner")
async def staff_policy(request: Request) -> Response:
    """Whether owners must use two-factor sign-in (the whole installation's setting)."""
    data = await request.form()

    async def policy(form: PolicyForm) -> None:
        await installation.set_owner_two_factor(form.owner_two_factor == "yes",
                                                by=request.state.actor)

    async def again(refused: Refusal) -> Response:
        return render(request, "admin/staff.html", {
            "accounts": await staff_lifecycle.accounts(), "roles": staff.ROLES,
            "errors": refused.errors, "values": {},
            "owner_two_factor": await installation.owner_two_factor(),
        }, refused.status)

    return await save_form(
        PolicyForm, {"owner_two_factor": text_of(data, "owner_two_factor")}, policy,
        done=lambda _: RedirectResponse(f"{request.url_for('admin:staff').path}?policy=1", 303),
        again=again, messages=MESSAGES,
    )


@requires("owner")
async def staff_reset(request: Request) -> Response:
    """The link is shown in this very response, once: never put in a URL to redirect to."""
    staff_id = _staff_id(request)
    data = await request.form()

    async def issue(_: Nothing) -> password_reset.IssuedReset:
        return await password_reset.issue(
            staff_id, by=request.state.actor, mailer=request.app.state.mailer,
            version=version_of(data),
            # The configured public address, not the request's Host header: the link may go
            # out by mail, and a forged Host must not point it elsewhere.
            link=lambda token: request.app.state.settings.public_base_url.rstrip("/")
            + request.url_for("admin:reset", token=token).path,
        )

    async def shown(issued: password_reset.IssuedReset) -> Response:
        return await _page(request, staff_id, issued=issued)

    return await save_form(
        Nothing, {}, issue, done=shown,
        again=lambda refused: _page(request, staff_id, refused, form="reset",
                                    read_at=_read_at(data)),
    )


@requires("owner")
async def staff_remove(request: Request) -> Response:
    staff_id = _staff_id(request)
    data = await request.form()

    async def remove(_: RemoveForm) -> str:
        return await staff_lifecycle.remove(staff_id, by=request.state.actor,
                                            version=version_of(data))

    return await save_form(
        RemoveForm, {"confirm": text_of(data, "confirm")}, remove,
        done=lambda _: RedirectResponse(f"{request.url_for('admin:staff').path}?removed=1", 303),
        again=lambda refused: _page(request, staff_id, refused, form="remove",
                                    read_at=_read_at(data)),
        messages=MESSAGES,
    )


routes = [
    Route("/staff", staff_list, methods=["GET", "POST"], name="staff"),
    Route("/staff/policy", staff_policy, methods=["POST"], name="staff_policy"),
    Route("/staff/{staff_id}", staff_account, methods=["GET"], name="staff_account"),
    Route("/staff/{staff_id}/role", _action("role", RoleForm, ("role",), _role,
                                            lambda _: "role"),
          methods=["POST"], name="staff_role"),
    Route("/staff/{staff_id}/active", _action(
        "active", ActiveForm, ("active",), _active,
        lambda active: "enabled" if active else "disabled"),
          methods=["POST"], name="staff_active"),
    Route("/staff/{staff_id}/unlock", _action("unlock", Nothing, (), _unlock,
                                              lambda _: "unlocked"),
          methods=["POST"], name="staff_unlock"),
    Route("/staff/{staff_id}/two-factor", _action("two_factor", Nothing, (), _two_factor,
                                                  lambda _: "two_factor"),
          methods=["POST"], name="staff_two_factor"),
    Route("/staff/{staff_id}/sites", staff_sites_set, methods=["POST"], name="staff_sites"),
    Route("/staff/{staff_id}/reset", staff_reset, methods=["POST"], name="staff_reset"),
    Route("/staff/{staff_id}/remove", staff_remove, methods=["POST"], name="staff_remove"),
]

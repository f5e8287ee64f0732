"""A site's notifications: the events that reach me by mail (at once or in a daily digest,
in my language; every signed-in account chooses its own), and webhook endpoints, each with
the events it wants, its secret (shown once, when it is added), its delivery log (every
attempt's status, answer code, time taken and the start of the answer), "send again" and
"send a test event". Everyone signed in sees which endpoints exist; only owners add, change
or read their logs, as the logs hold what another system answered and the endpoints decide
where the site's events go."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.models import Site, WebhookEndpoint
from cmp_server.services import subscriptions, webhooks
from cmp_server.services.events import EVENT_LABELS
from cmp_server.services.mail_texts import LANGUAGES

from ._forms import UNREFUSED, Form, Refusal, save_form, text_of, whole_number
from ._pages import render
from ._security import requires

__all__ = ["routes"]


class EndpointForm(Form):
    url: str = Field(min_length=1, max_length=2048)
    description: str = Field(default="", max_length=200)
    events: tuple[str, ...] = ()


class MailForm(Form):
    modes: dict[str, Literal["off", "instant", "digest"]]
    language: Literal["en", "sv", "da"]


class Toggle(Form):
    enabled: bool


async def _page(request: Request, site: Site, *, values: dict[str, object] | None = None,
                refused: Refusal = UNREFUSED, created: WebhookEndpoint | None = None,
                mail_refused: Refusal = UNREFUSED) -> Response:
    actor = request.state.actor
    return render(request, "admin/notifications.html", {
        "site": site, "tab": "notifications", "endpoints": await webhooks.endpoints(site),
        "labels": EVENT_LABELS, "created": created,
        "mail_modes": await subscriptions.modes_of(actor.id, site), "modes": subscriptions.MODES,
        "mail_language": await subscriptions.language_of(actor.id), "languages": LANGUAGES,
        "smtp": bool(request.app.state.settings.smtp_host),
        "values": values or {"url": "", "description": "", "events": list(EVENT_LABELS)},
        "errors": refused.errors, "mail_errors": mail_refused.errors,
        "saved": request.query_params.get("saved"),
    }, 201 if created else max(refused.status, mail_refused.status))


async def _endpoint(request: Request, site: Site) -> WebhookEndpoint:
    number = whole_number(request.path_params["endpoint_id"], 9)
    return await webhooks.endpoint_of(site, number if number is not None else 0)


def _to_endpoint(request: Request, site: Site, endpoint_id: int, saved: str) -> Response:
    path = request.url_for("admin:webhook", key=site.key, endpoint_id=endpoint_id).path
    return RedirectResponse(f"{path}?saved={saved}", 303)


@requires("viewer", site=True)
async def notifications(request: Request, site: Site) -> Response:
    return await _page(request, site)


@requires("viewer", site=True)
async def mail_choices(request: Request, site: Site) -> Response:
    form = await request.form()
    values = {"modes": {e: text_of(form, f"mode-{e}") or "off" for e in EVENT_LABELS},
              "language": text_of(form, "language")}

    async def save(parsed: MailForm) -> None:
        await subscriptions.set_modes(request.state.actor, site, dict(parsed.modes),
                                      parsed.language)

    return await save_form(
        MailForm, values, save,
        done=lambda _: RedirectResponse(
            request.url_for("admin:notifications", key=site.key).path + "?saved=mail", 303),
        again=lambda refused: _page(request, site, mail_refused=refused),
        names={"modes": "form", "language": "form"},
        messages={"modes": "Choose no mail, at once or daily digest for each event.",
                  "language": "Choose English, Swedish or Danish."},
    )


@requires("owner", site=True)
async def webhook_add(request: Request, site: Site) -> Response:
    form = await request.form()
    values: dict[str, object] = {
        "url": text_of(form, "url"), "description": text_of(form, "description"),
        "events": tuple(v for v in form.getlist("events") if isinstance(v, str)),
    }

    async def save(parsed: EndpointForm) -> WebhookEndpoint:
        return await webhooks.add_endpoint(
            site, parsed.url, list(parsed.events), description=parsed.description,
            actor=request.state.actor,
            allow_private=request.app.state.settings.allow_private_scan_targets,
        )

    async def shown_once(endpoint: WebhookEndpoint) -> Response:
        return await _page(request, site, created=endpoint)

    return await save_form(
        EndpointForm, values, save, done=shown_once,
        again=lambda refused: _page(request, site, values=values, refused=refused),
    )


@requires("owner", site=True)
async def webhook(request: Request, site: Site) -> Response:
    endpoint = await _endpoint(request, site)
    return render(request, "admin/webhook.html", {
        "site": site, "tab": "notifications", "endpoint": endpoint, "labels": EVENT_LABELS,
        "log": await webhooks.log(endpoint), "saved": request.query_params.get("saved"),
    })


@requires("owner", site=True)
async def webhook_test(request: Request, site: Site) -> Response:
    endpoint = await _endpoint(request, site)
    await webhooks.send_test(endpoint, actor=request.state.actor)
    return _to_endpoint(request, site, endpoint.id, "test")


@requires("owner", site=True)
async def webhook_again(request: Request, site: Site) -> Response:
    endpoint = await _endpoint(request, site)
    delivery = whole_number(text_of(await request.form(), "delivery"), 18)
    await webhooks.send_again(endpoint, delivery if delivery is not None else 0)
    return _to_endpoint(request, site, endpoint.id, "again")


@requires("owner", site=True)
async def webhook_enabled(request: Request, site: Site) -> Response:
    endpoint = await _endpoint(request, site)
    form = await request.form()

    async def save(parsed: Toggle) -> None:
        await webhooks.set_enabled(endpoint, parsed.enabled, actor=request.state.actor)

    async def again(refused: Refusal) -> Response:
        return await _page(request, site, refused=refused)

    return await save_form(
        Toggle, {"enabled": text_of(form, "enabled")}, save,
        done=lambda _: _to_endpoint(request, site, endpoint.id,
                                    "on" if endpoint.enabled else "off"),
        again=again, names={"enabled": "form"}, messages={"enabled": "say on or off"},
    )


@requires("owner", site=True)
async def webhook_remove(request: Request, site: Site) -> Response:
    endpoint = await _endpoint(request, site)
    await webhooks.remove_endpoint(endpoint, actor=request.state.actor)
    path = request.url_for("admin:notifications", key=site.key).path
    return RedirectResponse(f"{path}?saved=removed", 303)


routes = [
    Route("/sites/{key}/notifications", notifications, methods=["GET"], name="notifications"),
    Route("/sites/{key}/notifications/mail", mail_choices, methods=["POST"],
          name="mail_choices"),
    Route("/sites/{key}/notifications/webhooks", webhook_add, methods=["POST"],
          name="webhook_add"),
    Route("/sites/{key}/notifications/webhooks/{endpoint_id}", webhook, methods=["GET"],
          name="webhook"),
    Route("/sites/{key}/notifications/webhooks/{endpoint_id}/test", webhook_test,
          methods=["POST"], name="webhook_test"),
    Route("/sites/{key}/notifications/webhooks/{endpoint_id}/again", webhook_again,
          methods=["POST"], name="webhook_again"),
    Route("/sites/{key}/notifications/webhooks/{endpoint_id}/enabled", webhook_enabled,
          methods=["POST"], name="webhook_enabled"),
    Route("/sites/{key}/notifications/webhooks/{endpoint_id}/remove", webhook_remove,
          methods=["POST"], name="webhook_remove"),
]

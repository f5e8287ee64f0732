"""The banner editor (texts per language, purposes) and the live preview of the draft.

Everyone signed in may look; the privacy role edits. Edits change the draft only: visitors see
them once they are published (``admin/publish.py``). The preview runs the real embed, rendered
by the same ``render_script`` as the public ``cmp.js``, from the draft (``drafts.preview_script``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from pydantic import AfterValidator, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.defaults import DEFAULT_TEXTS
from cmp_server.errors import CmpError, Conflict, InvalidRequest
from cmp_server.services import changes, drafts, sites

from . import publish
from ._forms import Form, field_errors, text_of
from ._pages import render, status_for
from ._security import requires

if TYPE_CHECKING:
    from cmp_server.models import Site

__all__ = ["TEXT_GROUPS", "routes"]

# The banner's texts as the editor groups and names them; a key the banner gains later and
# that is not named here is listed under the last group by its key.
TEXT_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("First layer", (
        ("title", "Title"),
        ("description", "Description"),
        ("accept_all", "Accept all button"),
        ("reject_all", "Reject all button"),
        ("customize", "Customize button"),
        ("policy_link", "Cookie policy link"),
        ("gpc_notice", "Global Privacy Control notice"),
    )),
    ("Second layer", (
        ("preferences_title", "Title"),
        ("save", "Save button"),
        ("close", "Close button"),
        ("always_on", "Label of required purposes"),
        ("vendors_heading", "Vendors heading"),
        ("cookies_heading", "Cookies heading"),
        ("transfer_notice", "Transfer outside the EU/EEA"),
        ("receipts_link", "Consent receipts link"),
        ("consent_id", "Consent ID label"),
        ("current_choice", "Current choice label"),
    )),
    ("Settings button, blocked content and the declaration", (
        ("settings_button", "Settings button"),
        ("placeholder", "Blocked content ({purpose} is replaced by the purpose's name)"),
        ("placeholder_button", "Button on blocked content"),
        ("col_name", "Column: name"),
        ("col_vendor", "Column: vendor"),
        ("col_duration", "Column: duration"),
        ("col_party", "Column: party"),
        ("col_description", "Column: description"),
        ("first_party", "First party"),
        ("third_party", "Third party"),
        ("duration_session", "Session (a cookie without a duration)"),
        ("days", "Days"),
    )),
)
LONG = 70  # built-in texts longer than this get a text area
_KEY = re.compile(r"[a-z0-9_-]{1,40}")


def _groups() -> list[tuple[str, list[tuple[str, str]]]]:
    named = {key for _, entries in TEXT_GROUPS for key, _ in entries}
    groups = [(title, [e for e in entries if e[0] in drafts.TEXT_KEYS])
              for title, entries in TEXT_GROUPS]
    groups[-1][1].extend((key, key) for key in drafts.TEXT_KEYS if key not in named)
    return groups


def _service_check(check: Any, value: str, what: str, **kwargs: Any) -> str:
    try:
        return str(check(value, what, **kwargs))
    except InvalidRequest as exc:
        raise PydanticCustomError("invalid_text", exc.detail) from None


def _text(value: str) -> str:
    return _service_check(drafts.check_text, value, "the text")


BannerText = Annotated[str, AfterValidator(_text)]


class TextsForm(Form):
    """One language's texts, ``text-<key>`` fields; a field left out keeps its text."""

    language: str = Field(min_length=1, max_length=20)
    texts: dict[str, BannerText]

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # Instead of Form's check of the whole dict: each text refuses NUL itself (check_text),
        # so the error lands beside that text's field.
        return value


class PurposeForm(Form):
    language: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=drafts.MAX_NAME)
    description: str = Field(default="", max_length=drafts.MAX_TEXT)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _service_check(drafts.check_line, value, "the name")

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        return _service_check(drafts.check_text, value, "the description")


class NewPurposeForm(PurposeForm):
    key: str = Field(min_length=1, max_length=40)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.fullmatch(value):
            raise PydanticCustomError(
                "purpose_key", "1 to 40 lowercase letters, digits, _ or - (like video_chat)"
            )
        return value


class MoveForm(Form):
    direction: str = Field(pattern="^(up|down)$")


def _language(site: Site, value: str | None) -> str:
    return value if value in site.languages else site.default_language


def _editor_url(
    request: Request, site: Site, language: str, anchor: str, saved: str = ""
) -> str:
    path = request.url_for("admin:banner", key=site.key).path
    return f"{path}?lang={quote(language)}" + (f"&saved={saved}" if saved else "") + f"#{anchor}"


# Fields the staff do not type: an error about one is an error of the whole form.
_HIDDEN = {"language": "The form came without its language: reload the page and try again.",
           "direction": "Move up or down, nothing else."}


def _errors(exc: ValidationError) -> dict[str, str]:
    errors = field_errors(exc)
    for name, message in _HIDDEN.items():
        if errors.pop(name, None) is not None:
            errors.setdefault("form", message)
    return errors


async def _editor(
    request: Request,
    site: Site,
    language: str,
    *,
    status: int = 200,
    form: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    """The editor; ``form`` names the form whose ``errors`` and ``values`` come back."""
    summary = await changes.publish_summary(site)
    return render(request, "admin/banner.html", {
        "site": site,
        "tab": "banner",
        "language": language,
        "groups": _groups(),
        "own": site.texts.get(language, {}),
        # Ours in this language only: without them the visitor gets another language's words
        # (``publishing.resolve_texts``), which the field's hint and the lint say.
        "builtin": DEFAULT_TEXTS.get(language, {}),
        "long": LONG,
        "purposes": await drafts.draft_purposes(site),
        "summary": summary,
        "form": form,
        "errors": errors or {},
        "values": values or {},
        "saved": request.query_params.get("saved", ""),
        "can_edit": request.state.actor.can("privacy"),
    }, status)


@requires("viewer")
async def banner(request: Request) -> Response:
    site = await sites.get_site(request.path_params["key"])
    return await _editor(request, site, _language(site, request.query_params.get("lang")))


def _form_language(site: Site, form: FormData) -> str:
    return _language(site, text_of(form, "language"))


@requires("privacy")
async def banner_texts(request: Request) -> Response:
    site = await sites.get_site(request.path_params["key"])
    form = await request.form()
    texts = {
        name.removeprefix("text-"): value for name, value in form.multi_items()
        if name.startswith("text-")
    }
    raw = {"language": form.get("language"), "texts": texts}
    language = _form_language(site, form)
    shown = _shown(texts)
    if not texts:
        return await _editor(request, site, language, status=422, form="texts", errors={
            "form": "The form came without any text: reload the page and try again."
        })
    try:
        parsed = TextsForm.model_validate(raw)
        await drafts.edit_texts(site, parsed.language, parsed.texts, by=request.state.actor)
    except ValidationError as exc:
        return await _editor(request, site, language, status=422, form="texts",
                             errors=_text_errors(exc), values=shown)
    except CmpError as exc:
        return await _editor(request, site, language, status=status_for(exc), form="texts",
                             errors={"form": exc.detail}, values=shown)
    return RedirectResponse(_editor_url(request, site, language, "texts", "texts"), 303)


def _text_errors(exc: ValidationError) -> dict[str, str]:
    """``texts.title`` errors under ``text-title``, the field's own name."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        name = f"text-{loc[1]}" if len(loc) > 1 and loc[0] == "texts" else (loc or ["form"])[0]
        if name in _HIDDEN or name == "texts":
            name = "form"
        errors.setdefault(name, str(error["msg"]).removeprefix("Value error, "))
    return errors


def _purpose_values(form: FormData, *names: str) -> dict[str, Any]:
    """The fields as sent, for the form model (a file upload is refused there as no text)."""
    return {name: form.get(name) for name in names if form.get(name) is not None}


def _shown(values: dict[str, Any]) -> dict[str, str]:
    """What goes back into the form: the texts that were sent."""
    return {k: v for k, v in values.items() if isinstance(v, str)}


@requires("privacy")
async def banner_purposes(request: Request) -> Response:
    """Add a purpose (optional, at the end)."""
    site = await sites.get_site(request.path_params["key"])
    form = await request.form()
    values = _purpose_values(form, "key", "language", "name", "description")
    language = _form_language(site, form)
    try:
        new = NewPurposeForm.model_validate(values)
        await drafts.add_purpose(
            site, new.key, name={new.language: new.name},
            description={new.language: new.description}, by=request.state.actor,
        )
    except ValidationError as exc:
        return await _editor(request, site, language, status=422, form="add",
                             errors=_errors(exc), values=_shown(values))
    except CmpError as exc:
        where = "key" if isinstance(exc, Conflict) else "form"
        return await _editor(request, site, language, status=status_for(exc), form="add",
                             errors={where: exc.detail}, values=_shown(values))
    return RedirectResponse(
        _editor_url(request, site, language, f"purpose-{new.key}", "purpose"), 303
    )


@requires("privacy")
async def banner_purpose(request: Request) -> Response:
    """Change a purpose's name and description in one language."""
    site = await sites.get_site(request.path_params["key"])
    key = request.path_params["purpose"]
    form = await request.form()
    values = _purpose_values(form, "language", "name", "description")
    language = _form_language(site, form)
    try:
        parsed = PurposeForm.model_validate(values)
        await drafts.edit_purpose(
            site, key, name={parsed.language: parsed.name},
            description={parsed.language: parsed.description}, by=request.state.actor,
        )
    except ValidationError as exc:
        return await _editor(request, site, language, status=422, form=f"purpose:{key}",
                             errors=_errors(exc), values=_shown(values))
    except CmpError as exc:
        return await _editor(request, site, language, status=status_for(exc),
                             form=f"purpose:{key}", errors={"form": exc.detail},
                             values=_shown(values))
    return RedirectResponse(
        _editor_url(request, site, language, f"purpose-{key}", "purpose"), 303
    )


@requires("privacy")
async def banner_purpose_move(request: Request) -> Response:
    site = await sites.get_site(request.path_params["key"])
    key = request.path_params["purpose"]
    form = await request.form()
    language = _form_language(site, form)
    try:
        move = MoveForm.model_validate(_purpose_values(form, "direction"))
        await drafts.move_purpose(site, key, -1 if move.direction == "up" else 1,
                                  by=request.state.actor)
    except ValidationError as exc:
        return await _editor(request, site, language, status=422, form=f"purpose:{key}",
                             errors=_errors(exc))
    except CmpError as exc:
        return await _editor(request, site, language, status=status_for(exc),
                             form=f"purpose:{key}", errors={"form": exc.detail})
    return RedirectResponse(_editor_url(request, site, language, f"purpose-{key}"), 303)


@requires("privacy")
async def banner_purpose_remove(request: Request) -> Response:
    site = await sites.get_site(request.path_params["key"])
    key = request.path_params["purpose"]
    language = _form_language(site, await request.form())
    try:
        await drafts.remove_purpose(site, key, by=request.state.actor)
    except CmpError as exc:
        return await _editor(request, site, language, status=status_for(exc),
                             form=f"purpose:{key}", errors={"form": exc.detail})
    return RedirectResponse(_editor_url(request, site, language, "purposes", "removed"), 303)


@requires("viewer")
async def preview(request: Request) -> Response:
    """A sample page carrying the draft's embed, in the language chosen (``<html lang>``,
    which the embed reads first)."""
    site = await sites.get_site(request.path_params["key"])
    language = _language(site, request.query_params.get("lang"))
    return render(request, "admin/preview.html", {
        "site": site, "language": language, "summary": await changes.publish_summary(site),
    })


@requires("viewer")
async def preview_script(request: Request) -> Response:
    site = await sites.get_site(request.path_params["key"])
    return Response(
        await drafts.preview_script(site), media_type="text/javascript; charset=utf-8"
    )


routes = [
    Route("/sites/{key}/banner", banner, methods=["GET"], name="banner"),
    Route("/sites/{key}/banner", banner_texts, methods=["POST"], name="banner_texts"),
    Route("/sites/{key}/banner/purposes", banner_purposes, methods=["POST"],
          name="banner_purposes"),
    Route("/sites/{key}/banner/purposes/{purpose}", banner_purpose, methods=["POST"],
          name="banner_purpose"),
    Route("/sites/{key}/banner/purposes/{purpose}/move", banner_purpose_move, methods=["POST"],
          name="banner_purpose_move"),
    Route("/sites/{key}/banner/purposes/{purpose}/remove", banner_purpose_remove,
          methods=["POST"], name="banner_purpose_remove"),
    Route("/sites/{key}/preview", preview, methods=["GET"], name="preview"),
    Route("/sites/{key}/preview/cmp.js", preview_script, methods=["GET"], name="preview_script"),
    # Publishing and the version history: their own module, mounted with the banner's.
    *publish.routes,
]

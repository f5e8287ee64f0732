"""The banner editor (texts per language, purposes) and the live preview of the draft.

Everyone signed in may look; the privacy role edits. Edits change the draft only: visitors see
them once they are published (``admin/publish.py``). The preview runs the real embed, rendered
by the same ``render_script`` as the public ``cmp.js``, from the draft (``drafts.preview_script``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.defaults import DEFAULT_TEXTS
from cmp_server.errors import as_value_error
from cmp_server.services import blocking, changes, drafts, revisions, sites, translations

from ._conflicts import meanwhile, version_of, without_form_error
from ._conflicts import read_at as _read_at
from ._forms import UNREFUSED, Form, Refusal, save_form, text_of
from ._pages import render
from ._security import HEADERS, requires
from .appearance import look_from, look_query

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
# The admin's own policy, but its preview page may sit in a frame of the admin's own pages.
FRAMED_CSP = dict(HEADERS)[b"content-security-policy"].decode().replace(
    "frame-ancestors 'none'", "frame-ancestors 'self'")
LONG = 70  # built-in texts longer than this get a text area
_KEY = re.compile(r"[a-z0-9_-]{1,40}")


def _groups() -> list[tuple[str, list[tuple[str, str]]]]:
    named = {key for _, entries in TEXT_GROUPS for key, _ in entries}
    groups = [(title, [e for e in entries if e[0] in drafts.TEXT_KEYS])
              for title, entries in TEXT_GROUPS]
    groups[-1][1].extend((key, key) for key in drafts.TEXT_KEYS if key not in named)
    return groups


def _text(value: str) -> str:
    return as_value_error(drafts.check_text, value, "the text")


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
        return as_value_error(drafts.check_line, value, "the name")

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        return as_value_error(drafts.check_text, value, "the description")


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
_NAMES = dict.fromkeys(_HIDDEN, "form")


async def _editor(
    request: Request,
    site: Site,
    language: str,
    *,
    form: str = "",
    values: dict[str, Any] | None = None,
    refused: Refusal = UNREFUSED,
    read_at: int | None = None,
) -> Response:
    """The editor; ``form`` names the form whose ``values`` and errors come back, and
    ``read_at`` the version it was read at (what changed since, when it was refused so)."""
    # The versions first, then what the forms show (at least as new as the versions).
    keys = await sites.purpose_keys(site)
    subjects = {"texts": revisions.texts(site, language),
                **{f"purpose:{k}": revisions.purpose(site, k) for k in keys}}
    stamps = await revisions.stamps(subjects.values())
    versions = {name: stamps[subject.key] for name, subject in subjects.items()}
    site = await sites.get_site(site.key)
    conflict = None
    # "remove:<key>": the purpose's removal, refused over a purpose changed meanwhile; its
    # card offers the removal again (at the version now) or the page afresh.
    subject = form.replace("remove:", "purpose:", 1)
    if subject in subjects:
        removal = form.startswith("remove:")
        compared = _compared(site, language, subject)
        if removal:  # nothing typed: what changed meanwhile is the whole story
            compared["labels"] = {}
        conflict = await meanwhile(
            refused, subjects[subject], read_at, **compared, typed=values or {},
            discard=_editor_url(request, site, language, _anchor(subject)),
            form_id=f"form-{form.replace(':', '-')}" if removal
            else f"form-{_anchor(form)}",
        )
    if conflict is not None:
        versions[subject] = conflict.version
    summary = await changes.publish_summary(site)
    completeness = await translations.completeness(site)
    return render(request, "admin/banner.html", {
        "completeness": completeness,
        "current": next(s for s in completeness if s.language == language),
        "text_labels": {key: f"{group}: {label}" for group, entries in _groups()
                        for key, label in entries},
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
        "errors": without_form_error(refused),
        "versions": versions,
        "conflict": conflict,
        "values": values or {},
        "saved": request.query_params.get("saved", ""),
        "can_edit": request.state.actor.can("privacy"),
    }, refused.status)


def _anchor(form: str) -> str:
    return "texts" if form == "texts" else f"purpose-{form.removeprefix('purpose:')}"


def _compared(site: Site, language: str, form: str) -> dict[str, Any]:
    """What a conflict on ``form`` compares: the values saved now, and the fields' names."""
    if form == "texts":
        async def texts() -> dict[str, str]:
            return dict((await sites.get_site(site.key)).texts.get(language, {}))

        return {"stored": texts, "labels": {
            key: f"{label} ({key})" for _, entries in _groups() for key, label in entries}}
    key = form.removeprefix("purpose:")

    async def purpose() -> dict[str, str]:
        for p in await drafts.draft_purposes(site):
            if p.key == key:
                return {"name": p.name.get(language, ""),
                        "description": p.description.get(language, "")}
        return {}

    return {"stored": purpose, "labels": {"name": f"Name ({language})",
                                          "description": f"Description ({language})"}}


@requires("viewer", site=True)
async def banner(request: Request, site: Site) -> Response:
    return await _editor(request, site, _language(site, request.query_params.get("lang")))


def _form_language(site: Site, form: FormData) -> str:
    return _language(site, text_of(form, "language"))


def _again(
    request: Request, site: Site, language: str, form: str, values: dict[str, str] | None = None,
    read_at: int | None = None,
) -> Callable[[Refusal], Awaitable[Response]]:
    """The editor once more, with ``form``'s errors and the values it sent."""
    return lambda refused: _editor(request, site, language, form=form, values=values,
                                   refused=refused, read_at=read_at)


def _back(request: Request, site: Site, language: str, anchor: str,
          saved: str = "") -> Callable[[object], Response]:
    url = _editor_url(request, site, language, anchor, saved)
    return lambda _: RedirectResponse(url, 303)


def _sent(form: FormData, *names: str) -> dict[str, Any]:
    """The fields as sent, for the form model (a file upload is refused there as no text)."""
    return {name: form.get(name) for name in names if form.get(name) is not None}


def _shown(values: dict[str, Any]) -> dict[str, str]:
    """What goes back into the form: the texts that were sent."""
    return {k: v for k, v in values.items() if isinstance(v, str)}


@requires("privacy", site=True)
async def banner_texts(request: Request, site: Site) -> Response:
    form = await request.form()
    texts = {
        name.removeprefix("text-"): value for name, value in form.multi_items()
        if name.startswith("text-")
    }
    language = _form_language(site, form)
    again = _again(request, site, language, "texts", _shown(texts), _read_at(form))
    if not texts:
        return await again(Refusal(
            {"form": "The form came without any text: reload the page and try again."}))
    return await save_form(
        TextsForm, {"language": form.get("language"), "texts": texts},
        lambda new: drafts.edit_texts(site, new.language, new.texts, by=request.state.actor,
                                      version=version_of(form)),
        done=_back(request, site, language, "texts", "texts"), again=again,
        names={**_NAMES, "texts": "text-{}"}, messages=_HIDDEN,
    )


@requires("privacy", site=True)
async def banner_purposes(request: Request, site: Site) -> Response:
    """Add a purpose (optional, at the end)."""
    form = await request.form()
    values = _sent(form, "key", "language", "name", "description")
    language = _form_language(site, form)

    async def add(new: NewPurposeForm) -> drafts.DraftPurpose:
        return await drafts.add_purpose(
            site, new.key, name={new.language: new.name},
            description={new.language: new.description}, by=request.state.actor,
        )

    return await save_form(
        NewPurposeForm, values, add, done=lambda added: RedirectResponse(
            _editor_url(request, site, language, f"purpose-{added.key}", "purpose"), 303),
        again=_again(request, site, language, "add", _shown(values)),
        names=_NAMES, messages=_HIDDEN,
    )


@requires("privacy", site=True)
async def banner_purpose(request: Request, site: Site) -> Response:
    """Change a purpose's name and description in one language."""
    key = request.path_params["purpose"]
    form = await request.form()
    values = _sent(form, "language", "name", "description")
    language = _form_language(site, form)

    async def edit(new: PurposeForm) -> drafts.DraftPurpose:
        return await drafts.edit_purpose(
            site, key, name={new.language: new.name},
            description={new.language: new.description}, by=request.state.actor,
            version=version_of(form),
        )

    return await save_form(
        PurposeForm, values, edit, done=_back(request, site, language, f"purpose-{key}",
                                              "purpose"),
        again=_again(request, site, language, f"purpose:{key}", _shown(values), _read_at(form)),
        names=_NAMES, messages=_HIDDEN,
    )


@requires("privacy", site=True)
async def banner_purpose_move(request: Request, site: Site) -> Response:
    key = request.path_params["purpose"]
    form = await request.form()
    language = _form_language(site, form)
    return await save_form(
        MoveForm, _sent(form, "direction"),
        lambda move: drafts.move_purpose(site, key, -1 if move.direction == "up" else 1,
                                         by=request.state.actor),
        done=_back(request, site, language, f"purpose-{key}"),
        again=_again(request, site, language, f"purpose:{key}"),
        names=_NAMES, messages=_HIDDEN,
    )


@requires("privacy", site=True)
async def banner_purpose_remove(request: Request, site: Site) -> Response:
    key = request.path_params["purpose"]
    form = await request.form()
    language = _form_language(site, form)
    return await save_form(
        Form, {}, lambda _: drafts.remove_purpose(site, key, by=request.state.actor,
                                                  version=version_of(form)),
        done=_back(request, site, language, "purposes", "removed"),
        again=_again(request, site, language, f"remove:{key}", read_at=_read_at(form)),
    )


@requires("viewer", site=True)
async def preview(request: Request, site: Site) -> Response:
    """A sample page carrying the draft's embed, in the language chosen (``<html lang>``,
    which the embed reads first)."""
    language = _language(site, request.query_params.get("lang"))
    draft = await drafts.draft_config(site)
    samples = blocking.sample_tags(draft.blocking.rules)
    # In the appearance editor's frame (``frame=1``): the sample page and the banner only, and
    # framed by this admin alone (every other admin page may not be framed at all).
    framed = request.query_params.get("frame") == "1"
    query = look_query(request.query_params)
    response = render(request, "admin/preview.html", {
        "site": site, "language": language, "summary": await changes.publish_summary(site),
        "blocking": draft.blocking, "samples": [{"type": t.type, "url": t.url} for t in samples],
        "framed": framed, "query": query,
    })
    if framed:
        response.headers["content-security-policy"] = FRAMED_CSP
        response.headers["x-frame-options"] = "SAMEORIGIN"
    return response


@requires("viewer", site=True)
async def preview_script(request: Request, site: Site) -> Response:
    """The draft's embed; with the appearance editor's unsaved values in the query, wearing
    them (``appearance.look_from``)."""
    return Response(
        await drafts.preview_script(site, look_from(site, request.query_params)),
        media_type="text/javascript; charset=utf-8",
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
]

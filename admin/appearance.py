"""The banner's look: colours, layout, corner radius, font and logo, with the live preview
beside the editor.

The preview is the real embed on the admin's preview page (``banner.preview``), framed at a
phone's size. As staff change a field, ``admin/js/admin.js`` points the frame at the preview
with the form's values in its query (``look_from``: the draft's look with them, never saved),
and htmx asks ``appearance_check`` for the lint's verdict on them. Without JavaScript the
form saves, and the frame and the checks show the saved draft when the page comes back.

The form carries the version it was read at (``revisions.appearance``): a save over a look
changed meanwhile is refused with the conflict card (``admin/_conflicts.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlencode

from pydantic import Field, StringConstraints
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, request_response

from cmp_server.errors import InvalidRequest
from cmp_server.schemas import LAYOUTS, Appearance
from cmp_server.services import appearance, lint, revisions, sites

from ._conflicts import meanwhile, version_of, without_form_error
from ._conflicts import read_at as _read_at
from ._forms import UNREFUSED, Form, Refusal, refusal, save_form
from ._limits import BodyLimit
from ._pages import render
from ._security import requires

if TYPE_CHECKING:
    from cmp_server.models import Site

__all__ = ["COLOURS", "look_from", "look_query", "routes"]

COLOURS: tuple[tuple[str, str], ...] = (
    ("background", "Background"),
    ("text", "Text"),
    ("link", "Links"),
    ("primary", "Primary button"),
    ("primary_text", "Primary button's label"),
    ("secondary", "Secondary button"),
    ("secondary_text", "Secondary button's label and edge"),
)
BUTTONS = (("accept_all", "Accept all"), ("reject_all", "Reject all"),
           ("customize", "Customize"))
# Multipart framing around the file and the CSRF token: the body may be this much larger.
_UPLOAD_SLACK = 8 * 1024
_Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]
_Style = Literal["primary", "secondary"]


class AppearanceForm(Form):
    layout: Literal["corner", "bar", "dialog"]
    radius: int = Field(ge=0, le=24)
    font: Literal["system", "inherit"]
    color_background: _Colour
    color_text: _Colour
    color_link: _Colour
    color_primary: _Colour
    color_primary_text: _Colour
    color_secondary: _Colour
    color_secondary_text: _Colour
    button_accept_all: _Style
    button_reject_all: _Style
    button_customize: _Style

    def values(self) -> dict[str, Any]:
        """As ``schemas.Appearance`` names them (the logo aside)."""
        return {
            "layout": self.layout, "radius": self.radius, "font": self.font,
            "colors": {k: getattr(self, f"color_{k}") for k, _ in COLOURS},
            "buttons": {k: getattr(self, f"button_{k}") for k, _ in BUTTONS},
        }


_MESSAGES = {
    "layout": "Choose one of the layouts.",
    "font": "Choose the system font or the site's own.",
    "radius": "A whole number of pixels from 0 to 24.",
    **{f"color_{k}": "A colour as #rrggbb, like #1d3f72." for k, _ in COLOURS},
    **{f"button_{k}": "Primary or secondary." for k, _ in BUTTONS},
}
_NAMES = [*(f"color_{k}" for k, _ in COLOURS), *(f"button_{k}" for k, _ in BUTTONS),
          "layout", "radius", "font"]


def _sent(values: Mapping[str, Any]) -> dict[str, str]:
    return {n: values[n] for n in _NAMES if isinstance(values.get(n), str)}


def look_query(query: Mapping[str, str]) -> str:
    """The editor's values in ``query``, for the preview's script URL."""
    return urlencode(_sent(query))


def look_from(site: Site, query: Mapping[str, str]) -> Appearance | None:
    """The draft's look with the editor's unsaved values from ``query`` (the preview's), or
    None when the query carries none or they are not a look (the preview then shows the
    draft as saved)."""
    sent = _sent(query)
    if not sent:
        return None
    saved = appearance.draft_appearance(site)
    try:
        form = AppearanceForm.model_validate({**_form_values(saved), **sent})
        return Appearance.model_validate({**form.values(), "logo": saved.logo})
    except ValueError:
        return None


def _form_values(look: Appearance) -> dict[str, Any]:
    return {
        "layout": look.layout, "radius": look.radius, "font": look.font,
        **{f"color_{k}": getattr(look.colors, k) for k, _ in COLOURS},
        **{f"button_{k}": getattr(look.buttons, k) for k, _ in BUTTONS},
    }


# The look form's fields as a conflict compares them, named as the audit log names them
# (``colors.primary``), so that the card marks those changed meanwhile.
LABELS = {
    "layout": "Layout", "radius": "Corner radius", "font": "Font",
    **{f"colors.{k}": f"Colour: {label}" for k, label in COLOURS},
    **{f"buttons.{k}": f"Button: {label}" for k, label in BUTTONS},
}


def _compared(values: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values (``color_primary``) under the audit log's names (``colors.primary``)."""
    return {name.replace("color_", "colors.", 1).replace("button_", "buttons.", 1): value
            for name, value in values.items()}


async def _page(
    request: Request, site: Site, *, values: dict[str, Any] | None = None,
    refused: Refusal = UNREFUSED, form: str = "look", read_at: int | None = None,
) -> Response:
    subject = revisions.appearance(site)
    version = await revisions.stamp(subject)  # before the values: at most as new
    site = await sites.get_site(site.key)

    async def stored() -> dict[str, str]:
        fresh = await sites.get_site(site.key)
        return _compared({k: str(v) for k, v in
                          _form_values(appearance.draft_appearance(fresh)).items()})

    conflict = await meanwhile(
        refused, subject, read_at, stored=stored, typed=_compared(values or {}), labels=LABELS,
        discard=request.url_for("admin:appearance", key=site.key).path, form_id="form-look",
    ) if form == "look" else None
    saved = appearance.draft_appearance(site)
    shown = {k: str(v) for k, v in _form_values(saved).items()}
    if values:
        shown.update(values)
    look = look_from(site, shown) or saved
    return render(request, "admin/appearance.html", {
        "site": site, "tab": "banner", "part": "appearance", "look": saved, "values": shown,
        "colours": COLOURS, "buttons": BUTTONS, "layouts": LAYOUTS,
        "findings": _findings(site, look),
        "version": conflict.version if conflict else version, "conflict": conflict,
        "errors": without_form_error(refused) if form == "look" else {},
        "logo_errors": refused.errors if form == "logo" else {},
        "saved": request.query_params.get("saved", ""),
        "can_edit": request.state.actor.can("privacy"),
        "max_logo_kb": appearance.MAX_LOGO_BYTES // 1024,
        "max_logo_side": appearance.MAX_LOGO_SIDE,
    }, refused.status)


def _findings(site: Site, look: Appearance) -> list[lint.Finding]:
    """The lint's findings about ``look``: contrast, the buttons' prominence, the fit."""
    return lint.appearance_findings(site, look)


def _back(request: Request, site: Site, saved: str) -> RedirectResponse:
    url = request.url_for("admin:appearance", key=site.key).path
    return RedirectResponse(f"{url}?saved={saved}", 303)


@requires("viewer", site=True)
async def editor(request: Request, site: Site) -> Response:
    return await _page(request, site)


@requires("viewer", site=True)
async def check(request: Request, site: Site) -> Response:
    """The checks of the look in the query (the editor's unsaved values): an htmx fragment."""
    look = look_from(site, request.query_params) or appearance.draft_appearance(site)
    return render(request, "admin/appearance_check.html", {
        "site": site, "findings": _findings(site, look),
    })


@requires("privacy", site=True)
async def save(request: Request, site: Site) -> Response:
    form = await request.form()
    values = _sent(form)
    return await save_form(
        AppearanceForm, values,
        lambda new: appearance.edit_appearance(site, new.values(), by=request.state.actor,
                                               version=version_of(form)),
        done=lambda _: _back(request, site, "look"),
        again=lambda refused: _page(request, site, values=values, refused=refused,
                                    read_at=_read_at(form)),
        messages=_MESSAGES,
    )


@requires("privacy", site=True)
async def upload(request: Request, site: Site) -> Response:
    """A new logo. The body was bounded before anything parsed it (``_bounded``)."""
    form = await request.form()
    file = form.get("logo")
    data = await file.read() if file is not None and not isinstance(file, str) else b""
    try:
        await appearance.upload_logo(site, data, by=request.state.actor)
    except InvalidRequest as exc:
        return await _page(request, site, refused=refusal(exc), form="logo")
    return _back(request, site, "logo")


# The upload's body: at most a logo and its multipart framing, refused with 413 before the
# CSRF check or anything else parses it (the admin's own ``BodyLimit`` allows a megabyte).
_bounded = BodyLimit(request_response(upload), appearance.MAX_LOGO_BYTES + _UPLOAD_SLACK,
                     timeout=60.0)


@requires("privacy", site=True)
async def remove(request: Request, site: Site) -> Response:
    await appearance.remove_logo(site, by=request.state.actor)
    return _back(request, site, "removed")


routes = [
    Route("/sites/{key}/appearance", editor, methods=["GET"], name="appearance"),
    Route("/sites/{key}/appearance", save, methods=["POST"], name="appearance_save"),
    Route("/sites/{key}/appearance/check", check, methods=["GET"], name="appearance_check"),
    Route("/sites/{key}/appearance/logo", _bounded, methods=["POST"], name="appearance_logo"),
    Route("/sites/{key}/appearance/logo/remove", remove, methods=["POST"],
          name="appearance_logo_remove"),
]

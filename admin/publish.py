"""Publishing the draft (the summary of what changes, the checks, a confirm step) and the
version history with the diff between any two versions.

Everyone signed in may look; the privacy role publishes. The confirm form carries the draft's
fingerprint from the summary shown, so a draft edited meanwhile is not published unseen.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.errors import CmpError, VersionNotFound
from cmp_server.services import changes

from ._forms import text_of, whole_number
from ._pages import render, status_for
from ._security import requires

if TYPE_CHECKING:
    from cmp_server.models import Site

__all__ = ["routes"]

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def _number(value: str | None, site_key: str) -> int:
    """A version number from the URL; anything else is no version (404)."""
    number = whole_number(value, 9)
    if number is None:
        raise VersionNotFound(f"site {site_key!r} has no version {(value or '')[:20]!r}")
    return number


async def _summary_page(
    request: Request, site: Site, *, status: int = 200, error: str = ""
) -> Response:
    return render(request, "admin/publish.html", {
        "site": site, "tab": "publish", "summary": await changes.publish_summary(site),
        "error": error, "can_publish": request.state.actor.can("privacy"),
    }, status)


@requires("viewer", site=True)
async def publish(request: Request, site: Site) -> Response:
    return await _summary_page(request, site)


@requires("privacy", site=True)
async def publish_confirm(request: Request, site: Site) -> Response:
    expected = text_of(await request.form(), "fingerprint")
    if not _FINGERPRINT.fullmatch(expected):
        return await _summary_page(
            request, site, status=422,
            error="The confirmation came without the summary it confirms: review it and "
            "publish again.",
        )
    try:
        version = await changes.publish_draft(site, by=request.state.actor, expected=expected)
    except CmpError as exc:
        return await _summary_page(request, site, status=status_for(exc), error=exc.detail)
    target = request.url_for("admin:version", key=site.key, number=str(version.number)).path
    return RedirectResponse(f"{target}?published=1", 303)


@requires("viewer", site=True)
async def versions(request: Request, site: Site) -> Response:
    history = await changes.list_versions(site)
    return render(request, "admin/versions.html", {
        "site": site, "tab": "versions", "versions": history,
    })


@requires("viewer", site=True)
async def versions_diff(request: Request, site: Site) -> Response:
    old = _number(request.query_params.get("a"), site.key)
    new = _number(request.query_params.get("b"), site.key)
    diff = await changes.version_diff(site, old, new)
    return render(request, "admin/version_diff.html", {
        "site": site, "tab": "versions", "diff": diff,
        "versions": await changes.list_versions(site),
    })


@requires("viewer", site=True)
async def version(request: Request, site: Site) -> Response:
    number = _number(request.path_params["number"], site.key)
    history = await changes.list_versions(site)
    info = next((v for v in history if v.number == number), None)
    if info is None:
        raise VersionNotFound(f"site {site.key!r} has no version {number}")
    return render(request, "admin/version.html", {
        "site": site, "tab": "versions", "info": info,
        "lines": changes.config_lines(await changes.version_config(site, number)),
        "published": request.query_params.get("published") == "1",
        "latest": history[0].number,
    })


routes = [
    Route("/sites/{key}/publish", publish, methods=["GET"], name="publish"),
    Route("/sites/{key}/publish", publish_confirm, methods=["POST"], name="publish_confirm"),
    Route("/sites/{key}/versions", versions, methods=["GET"], name="versions"),
    Route("/sites/{key}/versions/diff", versions_diff, methods=["GET"], name="versions_diff"),
    Route("/sites/{key}/versions/{number}", version, methods=["GET"], name="version"),
]

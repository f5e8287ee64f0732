"""Evidence anyone can verify (issue 21): the site's signed log (its latest checkpoint), the
signing keys with their fingerprints, and evidence bundles to download: a period's, or one
visitor's for an access request. A bundle is checked offline with ``cmp-verify``.

Reading the page needs any role; downloading a bundle is an export (visitors' data leaves the
system), so it needs the privacy role and is written to the audit log.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING
from uuid import UUID

from pydantic import Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cmp_server.errors import CheckpointNotFound, NotFound
from cmp_server.services import checkpoints, evidence, signing

from ._forms import DayRange, field_errors, text_of
from ._pages import render
from ._security import requires
from .consents import IsoDate

if TYPE_CHECKING:
    from cmp_server.models import Site

__all__ = ["routes"]

_CHUNK = 1 << 16


class PeriodForm(DayRange):
    """The days a period bundle covers (``to`` inclusive, UTC); either may be left open."""

    from_: IsoDate = Field(default=None, alias="from")
    to: IsoDate = None


async def _page(
    request: Request, site: Site, *, values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    try:
        latest = await checkpoints.latest_checkpoint(site)
    except CheckpointNotFound:
        latest = None
    settings = request.app.state.settings
    return render(request, "admin/evidence.html", {
        "site": site, "tab": "consents", "section": "evidence", "latest": latest,
        "keys": await signing.list_keys(), "values": values or {}, "errors": errors or {},
        "public_url": settings.public_base_url.rstrip("/"),
    }, 422 if errors else 200)


@requires("viewer", site=True)
async def evidence_page(request: Request, site: Site) -> Response:
    return await _page(request, site)


async def _send(
    request: Request, site: Site, selection: evidence.Selection, name: str
) -> Response:
    """Build the bundle in a temporary file (a zip is written whole before it is read), on
    the audit log, and stream it."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115
    try:
        await evidence.export_bundle(
            site, selection, spool, by=request.state.actor,
            public_url=request.app.state.settings.public_base_url, name=name)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := spool.read(_CHUNK):
                yield chunk
        finally:
            spool.close()

    return StreamingResponse(chunks(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
    })


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


@requires("privacy", site=True)
async def period_bundle(request: Request, site: Site) -> Response:
    data = await request.form()
    values = {"from": text_of(data, "from")[:20], "to": text_of(data, "to")[:20]}
    try:
        form = PeriodForm.model_validate({k: v or None for k, v in values.items()})
    except ValidationError as exc:
        return await _page(request, site, values=values, errors=field_errors(exc))
    start = datetime(form.from_.year, form.from_.month, form.from_.day, tzinfo=UTC) \
        if form.from_ else None
    end = datetime(form.to.year, form.to.month, form.to.day, tzinfo=UTC) + timedelta(days=1) \
        if form.to else None
    return await _send(request, site, evidence.Selection(None, start, end),
                       f"evidence-{site.key}-{_stamp()}.zip")


@requires("privacy", site=True)
async def visitor_bundle(request: Request, site: Site) -> Response:
    """One visitor's receipts as a bundle, for their access request."""
    try:
        consent_id = UUID(request.path_params["consent_id"])
    except ValueError:
        raise NotFound("no such visitor") from None
    return await _send(request, site, evidence.Selection(consent_id),
                       f"evidence-{consent_id}.zip")


routes = [
    Route("/sites/{key}/evidence", evidence_page, methods=["GET"], name="evidence"),
    Route("/sites/{key}/evidence", period_bundle, methods=["POST"], name="evidence_bundle"),
    Route("/sites/{key}/visitors/{consent_id}/evidence", visitor_bundle, methods=["POST"],
          name="visitor_evidence"),
]

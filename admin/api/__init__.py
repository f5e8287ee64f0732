"""The JSON admin API, ``/admin/api/v1``: the HTML admin's services and rules behind bearer
tokens (``cmp_server.services.api_tokens``) instead of a session cookie. The admin mounts it;
each area is a module of its own, and ``_base`` is what every request passes through. The
OpenAPI document describes it (``cmp_server/openapi_admin.py``)."""

from __future__ import annotations

from starlette.applications import Starlette

from cmp_server.settings import Settings

from . import inventory, publishing, records
from ._base import TokenLimiter, handlers

__all__ = ["create_api"]


def create_api(settings: Settings) -> Starlette:
    app = Starlette(routes=[*inventory.routes, *publishing.routes, *records.routes],
                    exception_handlers=handlers())
    app.state.settings = settings
    app.state.limiter = TokenLimiter(settings.api_requests_per_minute)
    return app

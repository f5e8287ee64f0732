"""Entry point for ``uvicorn --factory cmp_server.asgi:app`` (several workers, production)."""

from __future__ import annotations

from starlette.applications import Starlette

from . import _serving
from .app import create_app
from .settings import Settings


def app() -> Starlette:
    settings = Settings()
    # The bounds of `cmp-server serve`'s connections, when uvicorn is run with its protocol
    # (``--http cmp_server._serving:HeaderDeadline``, as `serve --workers N` does).
    _serving.configure(settings)
    return create_app(settings, freeze_gc=True)

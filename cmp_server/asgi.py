"""Entry point for ``uvicorn --factory cmp_server.asgi:app`` (several workers, production)."""

from __future__ import annotations

from starlette.applications import Starlette

from .app import create_app
from .settings import Settings


def app() -> Starlette:
    return create_app(Settings(), freeze_gc=True)

"""The admin view for privacy staff: a Starlette app the composition root mounts at ``/admin``.

Server-rendered (Jinja2, autoescape on), every page usable without JavaScript. Views call
``cmp_server.services`` only. Every route is named (``url_for('admin:…')``) and declares the
role it needs (``_security.requires``).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from cmp_server.errors import CmpError
from cmp_server.services.two_factor import Sealer
from cmp_server.settings import Settings

from . import (
    accounts,
    analytics,
    appearance,
    audit,
    banner,
    blocking,
    consents,
    dashboard,
    evidence,
    exports,
    inventory,
    notifications,
    publish,
    reports,
    scans,
    schedules,
    sites,
    staff,
    tokens,
    two_factor,
    vendors,
)
from ._limits import BodyLimit
from ._pages import cmp_error_page
from ._security import SecurityHeaders
from .api import create_api
from .authentication import LoginLimiter, SessionCookies

__all__ = ["create_admin"]


def create_admin(settings: Settings) -> Starlette:
    app = Starlette(
        routes=[
            Mount("/api/v1", app=create_api(settings), name="api"),
            *accounts.routes,
            *two_factor.routes,
            *staff.routes,
            *dashboard.routes,
            *audit.routes,
            *sites.routes,
            *inventory.routes,
            *vendors.routes,
            *banner.routes,
            *appearance.routes,
            *blocking.routes,
            *publish.routes,
            *scans.routes,
            *schedules.routes,
            *analytics.routes,
            *consents.routes,
            *exports.routes,
            *evidence.routes,
            *notifications.routes,
            *reports.routes,
            *tokens.routes,
            Mount("/static", StaticFiles(packages=[("admin", "static")]), name="static"),
        ],
        exception_handlers={CmpError: cmp_error_page},
    )
    app.state.settings = settings
    app.state.cookies = SessionCookies(settings)
    app.state.login_limiter = LoginLimiter()
    app.state.sealer = Sealer(settings.secret_key.get_secret_value())
    # No mail settings yet: reset links are shown to the owner only. A Mailer
    # (services/password_reset.py) built from mail settings goes here.
    app.state.mailer = None
    # Added first, so inside SecurityHeaders: a refused body's answer gets the headers too.
    app.add_middleware(BodyLimit, limit=settings.admin_max_body_bytes,
                       timeout=settings.body_timeout_seconds)
    app.add_middleware(SecurityHeaders)
    return app

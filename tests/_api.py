"""API tokens for tests of the JSON admin API: made through the service, as the owners'
page makes them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from cmp_server._utils import utcnow
from cmp_server.models import Staff
from cmp_server.services import api_tokens
from cmp_server.services.staff import Actor

from .factories import staff_member

API = "/admin/api/v1"


def as_actor(owner: Staff) -> Actor:
    return Actor(id=owner.id, email=owner.email, name=owner.name, role=owner.role,
                 session_id="", csrf_token="")


async def make_token(scope: str = "write", site_ids: Iterable[int] | None = None, *,
                     owner: Staff | None = None, name: str | None = None,
                     days: int = 30) -> str:
    owner = owner or await staff_member("owner")
    issued = await api_tokens.create_token(
        name or f"{scope}-{utcnow().timestamp()}", scope, site_ids,
        utcnow() + timedelta(days=days), by=as_actor(owner))
    return issued.secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

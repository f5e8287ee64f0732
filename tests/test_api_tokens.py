"""API tokens (``services/api_tokens.py``, ``admin/tokens.py``): only a hash is kept, the
whole token is shown once; scope, sites, expiry and revoking; the last-used time written at
most once a minute; the owners' page (roles, bad input beside its field, names escaped);
each token's rate limit (429 with Retry-After)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from starlette.applications import Starlette

from cmp_server._utils import sha256_hex, utcnow
from cmp_server.errors import Conflict, InvalidRequest
from cmp_server.models import ApiToken, AuditEntry
from cmp_server.services import api_tokens
from cmp_server.services.api_tokens import TokenRefused
from cmp_server.settings import Settings

from ._api import API, as_actor, bearer, make_token
from .admin._client import sign_in, token_of
from .factories import published_site, staff_member

PAYLOAD = '"><script>window.pwned=1</script>'


async def test_only_the_hash_is_kept_and_the_token_names_its_row(app: Starlette) -> None:
    owner = await staff_member("owner")
    issued = await api_tokens.create_token("CI", "read", None, utcnow() + timedelta(days=3),
                                           by=as_actor(owner))
    assert re.fullmatch(r"cmp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", issued.secret)
    row = await ApiToken.get(id=issued.row.id)
    assert row.secret_hash == sha256_hex(issued.secret.encode())
    assert issued.secret.split("_")[2] not in str(await ApiToken.all().values())
    actor = await api_tokens.authenticate(issued.secret)
    assert (actor.email, actor.role, actor.sites, actor.id) == ("token:CI", "viewer", None,
                                                                 owner.id)
    with pytest.raises(TokenRefused, match="unknown"):
        await api_tokens.authenticate(issued.secret[:-1] + ("A" if issued.secret[-1] != "A"
                                                            else "B"))
    entry = await AuditEntry.get(action="token.create")
    assert entry.actor == owner.email and entry.after and entry.after["scope"] == "read"


async def test_what_a_token_may_be(app: Starlette) -> None:
    owner = as_actor(await staff_member("owner"))
    soon = utcnow() + timedelta(days=1)
    site, _ = await published_site()
    for name, scope, sites, until, error in [
        ("", "read", None, soon, "name"),
        ("a\x00", "read", None, soon, None),
        ("x" * 81, "read", None, soon, None),
        ("ok", "admin", None, soon, "scope"),
        ("ok", "read", [], soon, "sites"),
        ("ok", "read", [site.id + 1000], soon, "sites"),
        ("ok", "read", None, utcnow() - timedelta(seconds=1), "expires"),
        ("ok", "read", None, utcnow() + timedelta(days=367), "expires"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            await api_tokens.create_token(name, scope, sites, until, by=owner)
        assert error is None or refused.value.field == error, (name, refused.value)
    await api_tokens.create_token("same", "read", [site.id], soon, by=owner)
    with pytest.raises(Conflict):
        await api_tokens.create_token("same", "write", None, soon, by=owner)
    privacy = as_actor(await staff_member("privacy"))
    with pytest.raises(InvalidRequest, match="owner"):
        await api_tokens.create_token("mine", "read", None, soon, by=privacy)


async def test_last_use_is_written_at_most_once_a_minute(app: Starlette) -> None:
    token = await make_token("read")
    public_id = token.split("_")[1]
    await api_tokens.authenticate(token)
    first = (await ApiToken.get(public_id=public_id)).last_used_at
    assert first is not None
    await api_tokens.authenticate(token)
    assert (await ApiToken.get(public_id=public_id)).last_used_at == first
    earlier = utcnow() - timedelta(seconds=61)
    await ApiToken.filter(public_id=public_id).update(last_used_at=earlier)
    await api_tokens.authenticate(token)
    later = (await ApiToken.get(public_id=public_id)).last_used_at
    assert later is not None and later > earlier + timedelta(seconds=60)


async def test_a_site_limited_owner_token_reaches_only_what_the_owner_sees(app: Starlette) -> None:
    from cmp_server.services import staff_sites

    a, _ = await published_site()
    b, _ = await published_site("B", ("b.example",))
    owner = await staff_member("owner")
    await staff_member("owner")  # another owner of every site, so the limit may be set
    token = await make_token("write", owner=owner)
    await staff_sites.set_limits(owner.id, True, [a.id], by=None)
    actor = await api_tokens.authenticate(token)
    assert actor.sites == frozenset({a.id}) and not actor.sees(b.id)


async def test_the_owners_page_makes_shows_once_and_revokes(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site(PAYLOAD)
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    csrf = await token_of(client, "/admin/tokens")
    page = await client.get("/admin/tokens")
    assert page.status_code == 200 and "No API tokens yet" in page.text
    assert PAYLOAD not in page.text and "&lt;script&gt;" in page.text
    day = (utcnow() + timedelta(days=10)).date().isoformat()
    made = await client.post("/admin/tokens", data={
        "csrf_token": csrf, "name": PAYLOAD, "scope": "write", "every_site": "no",
        "sites": str(site.id), "expires": day})
    assert made.status_code == 201
    secret = re.search(r'id="api-token">(cmp_[^<]+)<', made.text)
    assert secret and PAYLOAD not in made.text
    api = await client.get(f"{API}/sites", headers=bearer(secret.group(1)))
    assert [s["key"] for s in api.json()["sites"]] == [site.key]
    again = await client.get("/admin/tokens")
    assert secret.group(1) not in again.text and "never used" not in again.text
    row = await ApiToken.get(public_id=secret.group(1).split("_")[1])
    revoked = await client.post(f"/admin/tokens/{row.id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert (await client.get(f"{API}/sites", headers=bearer(secret.group(1)))
            ).status_code == 401
    assert "revoked" in (await client.get("/admin/tokens")).text
    assert await AuditEntry.filter(action="token.revoke", actor=owner.email).exists()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "", "Fill this in"),
    ("scope", "root", "read or write"),
    ("expires", "2020-01-01", "Give a date from"),
    ("expires", "tomorrow", "YYYY-MM-DD"),
    ("sites", "x", "sites from the list"),
    ("every_site", "maybe", "every site or"),
])
async def test_the_form_says_what_is_wrong_beside_the_field(
    app: Starlette, client: httpx.AsyncClient, field: str, value: str, message: str
) -> None:
    site, _ = await published_site()
    owner = await staff_member("owner")
    await sign_in(client, owner.email)
    csrf = await token_of(client, "/admin/tokens")
    form = {"csrf_token": csrf, "name": "CI", "scope": "read", "every_site": "no",
            "sites": str(site.id),
            "expires": (utcnow() + timedelta(days=5)).date().isoformat(), field: value}
    refused = await client.post("/admin/tokens", data=form)
    assert refused.status_code == 422 and message in refused.text, refused.text[-3000:]
    assert not await ApiToken.exists()


async def test_only_owners_of_every_site_open_the_page(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    member = await staff_member("privacy")
    await sign_in(client, member.email)
    assert (await client.get("/admin/tokens")).status_code == 403
    csrf = await token_of(client)
    assert (await client.post("/admin/tokens", data={"csrf_token": csrf})).status_code == 403


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_requests_per_minute": 3})


async def test_each_token_has_its_own_rate(client: httpx.AsyncClient) -> None:
    busy, quiet = await make_token("read"), await make_token("read")
    answers = [await client.get(f"{API}/sites", headers=bearer(busy)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert (await client.get(f"{API}/sites", headers=bearer(quiet))).status_code == 200

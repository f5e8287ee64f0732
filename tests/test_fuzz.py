"""Fuzz the public API from its own OpenAPI description: no input may produce a 5xx.

Runs against a real ``cmp-server serve`` process; half the cases go to a real site key with
an allowed Origin so that they reach validation and the writer, not only the 404 path.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from ._server import cli_env, free_port, run_cli, serving

_SITE: dict[str, str] = {}


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = cli_env(database_url, tmp_path_factory.mktemp("fuzz"))
    created = run_cli(["create-site", "--name", "Fuzz", "--domain", "fuzz.example"], env)
    assert created.returncode == 0, created.stderr
    _SITE["key"] = created.stdout.strip()
    with serving(["serve"], env, free_port()) as base:
        yield base


@pytest.mark.slow
def test_no_input_makes_the_server_fail(live: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live}/v1/openapi.json")
    operations = [op for op in (result.ok() for result in schema.get_all_operations())
                  if "public" in (op.tags or [])]
    # consents (2), config, cmp.js, declaration, checkpoints, keys, logos
    assert len(operations) == 8
    statuses: set[int] = set()

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            if case.path_parameters and hash(case.path_parameters.get("site_key")) % 2 == 0:
                case.path_parameters["site_key"] = _SITE["key"]
                case.headers = {**(case.headers or {}), "Origin": "https://www.fuzz.example"}
            response = case.call(base_url=live)
            statuses.add(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        check()
    # The fuzz reached past routing into validation, the writer and the config cache.
    assert {200, 404, 422} <= statuses, statuses


# Text with what the two databases do not store alike: NUL and the other C0 controls, DEL,
# lone surrogates (sent escaped, as JSON allows), beside ordinary and non-ASCII characters.
_NASTY = st.text(
    st.characters(max_codepoint=0x7F)
    | st.sampled_from(["\x00", "\x01", "\x1b", "\x1f", "\x7f", "\ud800", "\udfff", "é", "\u2028"]),
    max_size=20,
)
_PURPOSES = ("necessary", "preferences", "statistics", "marketing")


@pytest.mark.slow
def test_control_characters_in_receipts_never_make_the_server_fail(live: str) -> None:
    """Receipts valid but for one string, which holds control characters: a clear 4xx each
    time, never a 5xx (on PostgreSQL a NUL used to fail the writer's whole batch with 503)."""
    statuses: set[int] = set()
    url = f"{live}/v1/sites/{_SITE['key']}/consents"
    headers = {"Origin": "https://www.fuzz.example", "Content-Type": "text/plain"}

    with httpx.Client(timeout=10) as client:

        @given(
            where=st.sampled_from(["page_url", "choice_key", "language", "method", "consent_id"]),
            text=_NASTY,
        )
        @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
        def check(where: str, text: str) -> None:
            body: dict[str, Any] = {
                "receipt_id": str(uuid.uuid4()),
                "consent_id": str(uuid.uuid4()),
                "config_version": 1,
                "choices": {k: k == "necessary" for k in _PURPOSES},
                "method": "custom",
                "layer": "first",
                "language": "en",
                "page_url": "https://www.fuzz.example/",
            }
            if where == "page_url":
                body["page_url"] += text
            elif where == "choice_key":
                body["choices"][f"marketing{text}"] = body["choices"].pop("marketing")
            else:
                body[where] = body[where] + text
            # json.dumps writes a lone surrogate as its escape; orjson would refuse it.
            r = client.post(url, content=json.dumps(body), headers=headers)
            statuses.add(r.status_code)
            assert r.status_code < 500, (body, r.status_code, r.text)
            if r.status_code == 201:  # stored: then the same on both databases
                assert _storable(text), body

        check()
    assert {201, 422} <= statuses, statuses


def _storable(text: str) -> bool:
    return not any(ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF for c in text)

"""Fuzz the public API from its own OpenAPI description: no input may produce a 5xx.

Runs against a real ``cmp-server serve`` process; half the cases go to a real site key with
an allowed Origin so that they reach validation and the writer, not only the 404 path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
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
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5
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

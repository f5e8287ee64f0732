from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

import cmp_server
from cmp_server.settings import DEV_SECRET_KEY, Settings


def test_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Settings(data_dir=tmp_path)
    assert s.resolved_database_url == f"sqlite://{tmp_path.resolve()}/cmp.sqlite3"
    assert Settings(database_url="postgres://x@h/db").resolved_database_url == "postgres://x@h/db"


def test_default_secret_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="CMP_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="CMP_SECRET_KEY"):
        Settings(environment="test")
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(environment="production", secret_key="short")
    strong = Settings(environment="production", secret_key="x" * 40)
    assert strong.secret_key.get_secret_value() == "x" * 40
    assert Settings().secret_key.get_secret_value() == DEV_SECRET_KEY


def test_the_secret_key_is_never_printed() -> None:
    secret = "do-not-print-me-" * 2
    assert secret not in repr(Settings(secret_key=secret))
    assert secret not in str(Settings(secret_key=secret).model_dump())
    # A model-wide check fails with every setting as its input: the secret stays hidden.
    with pytest.raises(ValidationError) as failed:
        Settings(environment="production", secret_key=secret[:20])
    assert secret[:20] not in str(failed.value)


def test_an_unknown_database_scheme_is_refused() -> None:
    with pytest.raises(ValidationError, match="sqlite://PATH or postgres://"):
        Settings(database_url="mysql://root@localhost/cmp")


def test_trusted_proxies_parse_from_a_comma_list() -> None:
    s = Settings(trusted_proxies="10.0.0.0/8, ::1")
    assert s.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    with pytest.raises(ValidationError):
        Settings(trusted_proxies="not-a-network")


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(ValidationError):
        Settings(databse_url="typo")  # type: ignore[call-arg]


def test_public_names() -> None:
    assert cmp_server.__all__ == ["Settings", "__version__"]


READ = "from cmp_server.settings import Settings; print(Settings().trusted_proxies)"


@pytest.mark.parametrize(
    ("value", "networks"),
    [
        ("10.0.0.0/8, 192.168.1.1", "(IPv4Network('10.0.0.0/8'), IPv4Network('192.168.1.1/32'))"),
        ('["10.0.0.0/8", "::1"]', "(IPv4Network('10.0.0.0/8'), IPv6Network('::1/128'))"),
        ("", "()"),
    ],
)
def test_trusted_proxies_from_the_real_environment(value: str, networks: str) -> None:
    # Through the environment, as an operator sets it (the README's comma-separated form once
    # stopped the server from starting: pydantic-settings read the value as JSON first).
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CMP_")}
    done = subprocess.run([sys.executable, "-c", READ], env={**env, "CMP_TRUSTED_PROXIES": value},
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == networks


@pytest.mark.parametrize("value", ["nonsense", "[1,", "10.0.0.1/8", '{"a": 1}'])
def test_a_bad_trusted_proxies_value_is_one_line_naming_the_variable(
    tmp_path, value: str  # type: ignore[no-untyped-def]
) -> None:
    from ._server import cli_env, run_cli

    env = {**cli_env(f"sqlite://{tmp_path}/x.sqlite3", tmp_path), "CMP_TRUSTED_PROXIES": value}
    done = run_cli(["migrate"], env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: invalid settings: CMP_TRUSTED_PROXIES: ")
    assert "comma-separated, like 10.0.0.0/8" in lines[0] and "Traceback" not in done.stderr

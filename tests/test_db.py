"""The database backend, chosen once from the URL (``cmp_server/db.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.applications import Starlette

from cmp_server import db


def test_the_dialect_is_chosen_from_the_url() -> None:
    assert db.backend("sqlite:///tmp/x.sqlite3") is db.backend("sqlite://:memory:") is db.SQLITE
    for scheme in ("postgres", "postgresql", "asyncpg"):
        assert db.backend(f"{scheme}://u@h/db") is db.POSTGRES
    assert db.SQLITE.migrates_on_open and not db.SQLITE.concurrent_writers
    assert not db.POSTGRES.migrates_on_open and db.POSTGRES.concurrent_writers
    assert db.backend("SQLITE:///x") is db.SQLITE  # a scheme is case-insensitive
    for url, scheme in (
        ("mysql://root@localhost/cmp", "mysql"),
        ("/var/cmp.sqlite3", ""),
        ("postgres+asyncpg://u@h/db", "postgres+asyncpg"),
    ):
        refused = re.escape(f"unsupported database URL scheme '{scheme}'")
        with pytest.raises(ValueError, match=refused):
            db.backend(url)
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql'"):
        db.tortoise_config("mysql://root@localhost/cmp")


async def test_the_open_database_gives_its_dialect(app: Starlette, database_url: str) -> None:
    assert db.dialect() is db.backend(database_url)


def test_nothing_else_asks_which_database_it_runs_on() -> None:
    source = Path(db.__file__).parent
    asking = re.compile(r"""startswith\(\s*["'](sqlite|postgres)""")
    offenders = [
        str(path.relative_to(source)) for path in source.rglob("*.py")
        if "migrations" not in path.parts and path.name != "db.py"
        and asking.search(path.read_text())
    ]
    assert offenders == []

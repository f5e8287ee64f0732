"""The database backend, chosen once from the URL (``cmp_server/db.py``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cmp_server import db


def test_the_backend_is_chosen_from_the_url() -> None:
    assert db.backend("sqlite:///tmp/x.sqlite3") is db.SQLITE
    assert db.backend("postgres://u@h/db") is db.backend("postgresql://u@h/db") is db.POSTGRES
    assert db.SQLITE.migrates_on_open and not db.SQLITE.concurrent_writers
    assert not db.POSTGRES.migrates_on_open and db.POSTGRES.concurrent_writers
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql'"):
        db.backend("mysql://root@localhost/cmp")


def test_nothing_else_asks_which_database_it_runs_on() -> None:
    source = Path(db.__file__).parent
    asking = re.compile(r"""startswith\(\s*["'](sqlite|postgres)""")
    offenders = [
        str(path.relative_to(source)) for path in source.rglob("*.py")
        if "migrations" not in path.parts and path.name != "db.py"
        and asking.search(path.read_text())
    ]
    assert offenders == []

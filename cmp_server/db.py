"""Database: the Tortoise config for a URL, migrations, open and close.

The backend is chosen once, here, from the URL (``sqlite://`` or ``postgres://``); services
never ask which one they run on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate as migrate_api
from tortoise.migrations.executor import MigrationExecutor

__all__ = [
    "TORTOISE_ORM",
    "Backend",
    "DatabaseUnreachable",
    "SchemaOutOfDate",
    "close_database",
    "migrate",
    "open_database",
    "backend",
    "pending_migrations",
    "tortoise_config",
]


class SchemaOutOfDate(RuntimeError):
    pass


class DatabaseUnreachable(RuntimeError):
    """The database cannot be used at all (refused, unknown, bad credentials or options)."""


MODELS = ["cmp_server.models"]


@dataclass(frozen=True)
class Backend:
    """What differs between the two databases for the rest of the program, decided here once
    from the URL (as uvicorn's ``auto.py`` picks its loop), so that nothing else asks
    ``url.startswith("sqlite")``."""

    name: str
    # SQLite is a file of this process: it is created and migrated on open. PostgreSQL is
    # shared by many processes: `cmp-server migrate` brings it up, and a schema behind stops.
    migrates_on_open: bool
    # Several processes and several group-commit lanes may write at once (SQLite: one writer).
    concurrent_writers: bool


SQLITE = Backend("sqlite", migrates_on_open=True, concurrent_writers=False)
POSTGRES = Backend("postgres", migrates_on_open=False, concurrent_writers=True)


def backend(url: str) -> Backend:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return SQLITE
    if scheme in ("postgres", "postgresql", "asyncpg"):
        return POSTGRES
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite or postgres")


def _with_defaults(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if backend(url) is SQLITE:
        # WAL lets readers work while the receipt writer commits; FULL makes each commit durable.
        query.setdefault("journal_mode", "WAL")
        query.setdefault("synchronous", "FULL")
        query.setdefault("busy_timeout", "5000")
    else:
        query.setdefault("maxsize", "20")
    return urlunsplit(parts._replace(query=urlencode(query)))


def tortoise_config(url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _with_defaults(url)},
        "apps": {
            "models": {
                "models": MODELS,
                "default_connection": "default",
                "migrations": "cmp_server.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# Read by the `tortoise` command (``[tool.tortoise]`` in pyproject.toml) for makemigrations.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")


def _ensure_sqlite_dir(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = (parts.netloc + parts.path) if parts.netloc else parts.path
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


async def _ensure_reachable() -> None:
    """Run a query on the default connection (after ``Tortoise.init``). Tortoise reads "no
    migrations table" from any failed query, so a database that cannot be reached would
    otherwise look like an empty one, and the advice would be to run migrate."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception as exc:  # the driver's own: refused, auth, unknown database, bad option
        raise DatabaseUnreachable(f"cannot use the database: {exc}") from exc


async def migrate(url: str) -> None:
    """Bring the database at ``url`` up to the newest migration."""
    _ensure_sqlite_dir(url)
    config = tortoise_config(url)
    await Tortoise.init(config=config, init_connections=False)
    try:
        await _ensure_reachable()
    finally:
        await Tortoise.close_connections()
    await migrate_api(config=config)
    await Tortoise.close_connections()


async def pending_migrations(url: str) -> list[str]:
    """Names of migrations the database at ``url`` has not applied yet."""
    config = tortoise_config(url)
    await Tortoise.init(config=config, init_connections=False)
    try:
        await _ensure_reachable()
        executor = MigrationExecutor(connections.get("default"), config["apps"])
        return [f"{s.migration.app_label}.{s.migration.name}" for s in await executor.plan(None)]
    finally:
        await Tortoise.close_connections()


async def open_database(url: str, *, run_migrations: bool) -> None:
    """Open the database; migrate it first if asked, else refuse a schema that is behind."""
    if run_migrations:
        await migrate(url)
    elif pending := await pending_migrations(url):
        raise SchemaOutOfDate(
            f"the database schema is behind ({', '.join(pending)}): run `cmp-server migrate`"
        )
    _ensure_sqlite_dir(url)
    # The global fallback lets request tasks see the connections the lifespan task opened.
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)


async def close_database() -> None:
    await Tortoise.close_connections()

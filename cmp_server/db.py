"""Database: the Tortoise config for a URL, migrations, open and close.

The database's dialect (``dialects/``: what SQLite and PostgreSQL do not do alike) is chosen
once, here, from the URL (``sqlite://`` or ``postgres://``), as uvicorn's ``loops/auto.py``
picks its loop; services get it from ``dialect()`` and never ask which database they run on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate as migrate_api
from tortoise.migrations.executor import MigrationExecutor

from .dialects import Dialect
from .dialects.postgres import POSTGRES
from .dialects.sqlite import SQLITE

__all__ = [
    "POSTGRES",
    "SQLITE",
    "TORTOISE_ORM",
    "DatabaseUnreachable",
    "Dialect",
    "SchemaOutOfDate",
    "backend",
    "close_database",
    "dialect",
    "migrate",
    "open_database",
    "pending_migrations",
    "tortoise_config",
    "worker_url",
]


class SchemaOutOfDate(RuntimeError):
    pass


class DatabaseUnreachable(RuntimeError):
    """The database cannot be used at all (refused, unknown, bad credentials or options)."""


MODELS = ["cmp_server.models"]


def backend(url: str) -> Dialect:
    """The database's dialect, from the URL's scheme."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return SQLITE
    if scheme in ("postgres", "postgresql", "asyncpg"):
        return POSTGRES
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite or postgres")


_opened: Dialect | None = None


def dialect() -> Dialect:
    """The dialect of the database ``open_database`` opened: how services write what differs."""
    if _opened is None:
        raise RuntimeError("no database is open (db.open_database)")
    return _opened


def _with_defaults(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in backend(url).connection_options.items():
        query.setdefault(name, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def worker_url(url: str) -> str:
    """``url`` with the dialect's options for the scan worker's process, where it sets none."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in backend(url).worker_connection_options.items():
        query.setdefault(name, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _connection(url: str) -> str | dict[str, Any]:
    """The URL with the dialect's options, or, for a dialect with an engine of its own, the
    connection as Tortoise expands that URL, with the engine."""
    full = _with_defaults(url)
    engine = backend(url).engine
    return full if engine is None else {**expand_db_url(full), "engine": engine}


def tortoise_config(url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(url)},
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
    backend(url).prepare(url)
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
    chosen = backend(url)
    chosen.prepare(url)
    # The global fallback lets request tasks see the connections the lifespan task opened.
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    global _opened
    _opened = chosen


async def close_database() -> None:
    global _opened
    _opened = None
    await Tortoise.close_connections()

"""Tortoise's SQLite client with transactions that take the write lock when they begin.

SQLite's default ``BEGIN`` is deferred: a transaction that reads first takes the write lock only
at its first write, and if another process wrote to the file in between (WAL: its snapshot is
then stale), SQLite refuses that write at once with "database is locked", whatever the
``busy_timeout``. With the scan worker in a process of its own beside the server
(``worker_process``), two processes write one file, so every transaction begins ``IMMEDIATE``:
it waits (up to ``busy_timeout``) for the other process's write to end instead of failing
halfway. Within one process, Tortoise's lock on the one connection already orders them.
Django 5.1 (``"transaction_mode": "IMMEDIATE"``) and Rails 7.1 made the same choice.

Tortoise's own context would keep its lock and leave the connection set when ``BEGIN`` fails
(it never fails deferred; ``IMMEDIATE`` can, after ``busy_timeout``, or on a read-only file):
this one lets go of both, so that the failure is the caller's alone.

Used as the Tortoise engine of ``sqlite://`` URLs (``db.tortoise_config``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tortoise.backends.base.client import TransactionalDBClient, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import OperationalError

__all__ = ["ImmediateSqliteClient", "client_class"]


class _ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise OperationalError(exc) from exc


class _Context(SqliteTransactionContext):
    async def __aenter__(self) -> TransactionalDBClient:
        await self._trxlock.acquire()
        token: Any = None
        try:
            await self.ensure_connection()
            token = get_connections().set(self.connection_name, self.connection)
            await self.connection.begin()
        except BaseException:
            if token is not None:
                get_connections().reset(token)
            self._trxlock.release()
            raise
        self.token = token
        connection: TransactionalDBClient = self.connection
        return connection


class ImmediateSqliteClient(SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        return _Context(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient

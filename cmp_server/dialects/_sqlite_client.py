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

It also counts a statement's rows as SQLite does (``sqlite3_changes``: the statement's own),
where Tortoise counts every change the statement caused, its triggers' too: an UPDATE of one
item, which the inventory's tally triggers follow with two writes of their own (migration
0024), would otherwise say it changed three rows.

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
    translate_exceptions,
)
from tortoise.connection import get_connections
from tortoise.exceptions import OperationalError

__all__ = ["ImmediateSqliteClient", "client_class"]


class _OwnRows(SqliteClient):
    @translate_exceptions
    async def execute_query(
        self, query: str, values: list[Any] | None = None
    ) -> tuple[int, list[Any]]:
        query = query.replace("\x00", "'||CHAR(0)||'")  # as Tortoise's own
        async with self.acquire_connection() as connection:
            self.log.debug("%s: %s", query, values)
            cursor = await connection.execute(query, values)
            try:
                rows = list(await cursor.fetchall())
                changed = cursor.rowcount  # the statement's own rows; -1 for a SELECT
            finally:
                await cursor.close()
            return max(changed, 0) or len(rows), rows


class _ImmediateTransaction(_OwnRows, SqliteTransactionWrapper):
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


class ImmediateSqliteClient(_OwnRows):
    def _in_transaction(self) -> TransactionContext:
        return _Context(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient

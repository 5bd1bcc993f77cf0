"""Rows only reads need, written in bulk: before the next statement that could read them.

A transaction Bundle creates dozens of resources. Each one's version, search-index and
compartment rows are plain INSERTs that nothing reads until a later SELECT, UPDATE or
DELETE (or the commit), so they wait here and then go out together (`bulk.py`: one
statement for all tables when they are few, COPY per table on PostgreSQL when they are
many) instead of five to ten statements per resource. The
flush hangs off the engine's `before_execute` event, so no read in the transaction can
miss a deferred row, whichever code path issues it; the unit of work flushes before it
commits and drops the rows when it rolls back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Insert, Table, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.storage.bulk import Batch, insert_batches

_KEY = "esp_pending_rows"
# A table (plain INSERT) or an INSERT statement built once (e.g. ON CONFLICT DO NOTHING).
Target = Table | Insert
Queue = dict[Target, list[dict[str, Any]]]


def defer(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Queue `rows` for a plain INSERT into `table` in this connection's transaction."""
    _queue(conn, table, rows)


def defer_statement(conn: AsyncConnection, statement: Insert, rows: list[dict[str, Any]]) -> None:
    """Queue `rows` for `statement`, an INSERT built once (it is the queue's key)."""
    _queue(conn, statement, rows)


def _queue(conn: AsyncConnection, target: Target, rows: list[dict[str, Any]]) -> None:
    if rows:
        queued: Queue = conn.sync_connection.info.setdefault(_KEY, {})  # type: ignore[union-attr]
        queued.setdefault(target, []).extend(rows)


def flush(conn: Connection) -> None:
    """Write the queued rows, targets in the order first queued (FK order)."""
    queued: Queue | None = conn.info.pop(_KEY, None)
    tables: list[Batch] = []  # consecutive plain INSERTs go out together
    for target, rows in (queued or {}).items():
        if isinstance(target, Table):
            tables.append((target, rows))
            continue
        insert_batches(conn, tables)
        tables = []
        conn.execute(target, rows)
    insert_batches(conn, tables)


def discard(conn: AsyncConnection) -> None:
    """Forget queued rows (the transaction rolled back)."""
    if conn.sync_connection is not None:
        conn.sync_connection.info.pop(_KEY, None)


async def flush_now(conn: AsyncConnection) -> None:
    await conn.run_sync(flush)


class UnflushedRows(RuntimeError):
    """A transaction tried to commit with queued rows: a bug, never silently lost data."""


def install(engine: AsyncEngine) -> None:
    """Flush before every statement except plain INSERTs (which never read queued rows)."""

    @event.listens_for(engine.sync_engine, "before_execute")
    def _before_execute(conn: Connection, statement: Any, *_args: Any) -> None:
        if _KEY in conn.info and not (isinstance(statement, Insert) and statement.select is None):
            flush(conn)

    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(conn: Connection) -> None:
        if conn.info.get(_KEY):
            conn.info.pop(_KEY)
            raise UnflushedRows("queued index rows were not flushed before commit")

    @event.listens_for(engine.sync_engine, "rollback")
    def _on_rollback(conn: Connection) -> None:
        conn.info.pop(_KEY, None)

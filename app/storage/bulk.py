"""Plain INSERTs of queued rows: one statement for a few, PostgreSQL's COPY for many.

Version, search-index and compartment rows go out in batches: a handful per table for a
single create, hundreds to thousands for a transaction Bundle or the AuditEvents of a
search page. COPY takes the large batches about five times faster than SQLAlchemy's
multi-row INSERT (1,500 search_token rows: 82 → 17 ms on the bench machine), but each
COPY costs its own round trips and setup: for a single create (nine tables, one to a
dozen rows each) that setup is most of the write. So below `SMALL_FLUSH_ROWS` every
table's rows go out in ONE statement: per table an `INSERT ... SELECT` from
`json_to_recordset` of one parameter (the table's rows as a JSON array, serialised by
orjson), chained as data-modifying CTEs. One parameter per table, not one array per
column: psycopg caches its placeholder parsing only for statements of at most 50
parameters (re-parsing cost ~0.2 ms a flush), and one JSON text is cheaper to adapt than
hundreds of array elements. The text depends only on which tables and columns it fills,
so the driver prepares it once and reuses it. Foreign keys are checked at the end of the
statement, so the tables' order inside it does not matter.
Values pass through each column type's bind processor, as they would in an INSERT (JSON
columns excepted: their value is nested into the rows' JSON as it is).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import orjson
import psycopg
from sqlalchemy import JSON, Connection, Dialect, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.util import await_only

Processor = Callable[[Any], Any] | None
# Above this many rows in one flush, COPY per table beats one statement of arrays.
SMALL_FLUSH_ROWS = 200
Batch = tuple[Table, Sequence[dict[str, Any]]]
# (table, its columns in the rows' key order) per table of one statement.
Shape = tuple[tuple[Table, tuple[str, ...]], ...]


def insert_batches(conn: Connection, batches: Sequence[Batch]) -> None:
    """INSERT each batch's rows (all with the same keys) into its table, in few statements.

    `conn` is the synchronous face of an async connection (an event hook or `run_sync`),
    so COPY and the array statement run on the driver's connection through SQLAlchemy's
    greenlet bridge.
    """
    batches = [(table, rows) for table, rows in batches if rows]
    if not batches:
        return
    if conn.dialect.name != "postgresql":
        for table, rows in batches:
            conn.execute(table.insert(), list(rows))
        return
    driver = conn.connection.driver_connection
    if sum(len(rows) for _, rows in batches) > SMALL_FLUSH_ROWS:
        for table, rows in batches:
            columns = tuple(rows[0])
            statement = _copy_statement(table, columns, conn.dialect)
            _run(statement, _copy(driver, statement, _row_values(table, columns, rows, conn)))
        return
    shape: Shape = tuple((table, tuple(rows[0])) for table, rows in batches)
    params = [
        _rows_json(table, columns, rows, conn.dialect)
        for (table, columns), (_, rows) in zip(shape, batches, strict=True)
    ]
    statement = _recordset_statement(shape, conn.dialect)
    _run(statement, _execute(driver, statement, params))


def _run(statement: str, work: Any) -> None:
    try:
        await_only(work)
    except psycopg.Error as exc:
        # As an INSERT would raise it, so callers (e.g. the 503 on deadlock) see one error type.
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def _row_values(
    table: Table, columns: tuple[str, ...], rows: Sequence[dict[str, Any]], conn: Connection
) -> list[list[Any]]:
    processors = _processors(table, columns, conn.dialect)
    return [
        [p(row[c]) if p else row[c] for c, p in zip(columns, processors, strict=True)]
        for row in rows
    ]


def _rows_json(
    table: Table, columns: tuple[str, ...], rows: Sequence[dict[str, Any]], dialect: Dialect
) -> str:
    processors = _json_processors(table, columns, dialect)
    return orjson.dumps(
        [{c: p(row[c]) if p else row[c] for c, p in processors} for row in rows]
    ).decode()


async def _copy(driver: Any, statement: str, values: list[list[Any]]) -> None:
    async with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in values:
            await copy.write_row(row)


async def _execute(driver: Any, statement: str, params: list[str]) -> None:
    async with driver.cursor() as cursor:
        await cursor.execute(statement, params)


@cache
def _processors(table: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[Processor, ...]:
    return tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    )


@cache
def _json_processors(
    table: Table, columns: tuple[str, ...], dialect: Dialect
) -> tuple[tuple[str, Processor], ...]:
    """Per column its bind processor, none for JSON (nested into the rows' JSON as is)."""
    return tuple(
        (name, None if isinstance(table.c[name].type, JSON) else processor)
        for name, processor in zip(columns, _processors(table, columns, dialect), strict=True)
    )


def _names(table: Table, columns: tuple[str, ...], dialect: Dialect) -> str:
    quote = dialect.identifier_preparer
    return f"{quote.format_table(table)} ({', '.join(quote.quote(name) for name in columns)})"


@cache
def _copy_statement(table: Table, columns: tuple[str, ...], dialect: Dialect) -> str:
    return f"COPY {_names(table, columns, dialect)} FROM STDIN"


@cache
def _recordset_statement(shape: Shape, dialect: Dialect) -> str:
    """`WITH w0 AS (INSERT ...), ... INSERT ...`: one INSERT from a JSON array per table."""
    quote = dialect.identifier_preparer
    inserts = []
    for table, columns in shape:
        names = ", ".join(quote.quote(c) for c in columns)
        types = ", ".join(
            f"{quote.quote(c)} {table.c[c].type.compile(dialect=dialect)}" for c in columns
        )
        # Names and types come from our own table metadata; every value is a parameter.
        target = _names(table, columns, dialect)
        inserts.append(
            f"INSERT INTO {target} SELECT {names} "  # noqa: S608
            f"FROM json_to_recordset(%s::json) AS r({types})"
        )
    *first, last = inserts
    if not first:
        return last
    ctes = ", ".join(f"w{i} AS ({insert})" for i, insert in enumerate(first))
    return f"WITH {ctes} {last}"

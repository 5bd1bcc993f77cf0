"""Leases: how several workers on several nodes share durable jobs without a coordinator.

A worker claims rows that are due and that no live worker holds by writing its name and
an expiry into them (on PostgreSQL, `FOR UPDATE SKIP LOCKED` keeps two claimers from
waiting on each other); a worker that dies simply stops renewing, and once the lease has
run out another worker claims the row. Used by the subscription ledger and the export
ledger (docs/events.md, docs/bulk.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection


def free(table: Table, now: datetime) -> ColumnElement[bool]:
    """No live worker holds the row."""
    return or_(table.c.lease_until.is_(None), table.c.lease_until < now)


async def claim(
    conn: AsyncConnection,
    table: Table,
    key: str,
    *,
    due: Sequence[ColumnElement[bool]],
    order_by: Sequence[ColumnElement[Any]],
    worker: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    values: dict[str, Any] | None = None,
) -> list[Any]:
    """Lease up to `limit` rows that are `due` and free; their keys (`values` are written
    into the claimed rows too, e.g. an attempt counter)."""
    column = table.c[key]
    candidates = select(column).where(*due, free(table, now)).order_by(*order_by).limit(limit)
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed = await conn.execute(
        update(table)
        .where(column.in_(candidates.scalar_subquery()))
        .values(lease_owner=worker, lease_until=now + lease, **(values or {}))
        .returning(column)
    )
    return [row[0] for row in claimed.all()]


def held_by(table: Table, key: str, value: Any, worker: str) -> ColumnElement[bool]:
    """The row `value` is still held by `worker` (its lease was not taken over)."""
    return and_(table.c[key] == value, table.c.lease_owner == worker)


async def renew(
    conn: AsyncConnection,
    table: Table,
    key: str,
    value: Any,
    *,
    worker: str,
    until: datetime,
    values: dict[str, Any] | None = None,
) -> bool:
    """Extend `worker`'s lease on the row (and write `values`); False when the row is gone
    or another worker holds it now: the caller must stop working on it."""
    result = await conn.execute(
        update(table)
        .where(held_by(table, key, value, worker))
        .values(lease_until=until, **(values or {}))
    )
    return bool(result.rowcount)


async def release(conn: AsyncConnection, table: Table, key: str, value: Any, worker: str) -> None:
    """Give the row up (if `worker` still holds it)."""
    await conn.execute(
        update(table)
        .where(held_by(table, key, value, worker))
        .values(lease_owner=None, lease_until=None)
    )

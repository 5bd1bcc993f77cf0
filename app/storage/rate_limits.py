"""Fixed-window counters in the database, so every app node counts the same hits.

One row per counter: the window it started and its hits. A hit in an expired window
starts a new one. Both dialects increment with one `INSERT ... ON CONFLICT DO UPDATE
... RETURNING` per counter, so concurrent nodes never lose a hit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.storage.tables import rate_limit


@dataclass(frozen=True, slots=True)
class Window:
    """A counter's hits in its current window and when that window ends."""

    hits: int
    ends_at: float


async def add_hits(
    engine: AsyncEngine, keys: Sequence[str], *, now: float, window_seconds: float
) -> list[Window]:
    """Count one hit on each key; the counters after it, in the order of `keys`."""
    expired = rate_limit.c.window_start <= now - window_seconds
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    windows = []
    async with engine.connect() as conn:
        conn = await conn.execution_options(esp_write=True)
        async with conn.begin():
            for key in keys:
                counted = (
                    insert(rate_limit)
                    .values(key=key, window_start=now, hits=1)
                    .on_conflict_do_update(
                        index_elements=[rate_limit.c.key],
                        set_={
                            "hits": case((expired, 1), else_=rate_limit.c.hits + 1),
                            "window_start": case((expired, now), else_=rate_limit.c.window_start),
                        },
                    )
                    .returning(rate_limit.c.hits, rate_limit.c.window_start)
                )
                hits, start = (await conn.execute(counted)).one()
                windows.append(Window(int(hits), float(start) + window_seconds))
            # Counters whose window ended long ago are noise: drop them on the way.
            await conn.execute(
                delete(rate_limit).where(rate_limit.c.window_start < now - 2 * window_seconds)
            )
    return windows


async def current(
    engine: AsyncEngine, keys: Sequence[str], *, now: float, window_seconds: float
) -> list[Window]:
    """The counters of `keys` without counting a hit (0 hits when none or expired)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(rate_limit.c.key, rate_limit.c.hits, rate_limit.c.window_start).where(
                    rate_limit.c.key.in_(keys), rate_limit.c.window_start > now - window_seconds
                )
            )
        ).all()
    found = {key: Window(int(hits), float(start) + window_seconds) for key, hits, start in rows}
    return [found.get(key, Window(0, now)) for key in keys]

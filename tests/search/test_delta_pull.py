"""Delta pull: `_lastUpdated=gt<T>&_sort=_lastUpdated` under concurrent writers.

Pages only see rows stamped at or before the watermark (database now - settle),
fixed at the first page; the next pull starts at `gt<watermark>`. A writer that
commits within settle_seconds of its stamp can then never land behind a reader.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.fhir.instant import format_instant, truncate_to_millis
from tests.search.conftest import Store
from tests.search.data import REHAB, SCT, careplan, search

# Writers below sleep up to SETTLE / 2 before committing; the margin keeps "commits within
# settle of its stamp" (the mechanism's precondition) true on a loaded test machine.
SETTLE = 1.0


def _now() -> datetime:
    return truncate_to_millis(datetime.now(UTC))


async def _pull(engine: AsyncEngine, since: datetime, settle: float) -> tuple[list[str], datetime]:
    params = [
        ("category", f"{SCT}|{REHAB}"),
        ("_lastUpdated", f"gt{format_instant(since)}"),
        ("_sort", "_lastUpdated"),
        ("_count", "3"),
    ]
    seen: list[str] = []
    cursor = None
    watermark = None
    while True:
        page = await search(engine, ["CarePlan"], params, cursor=cursor, settle_seconds=settle)
        seen += [f"{m.res_id}@{m.version_id}" for m in page.matches]
        assert page.watermark is not None
        assert watermark in (None, page.watermark), "the watermark is fixed at the first page"
        watermark = page.watermark
        cursor = page.next_cursor
        if cursor is None:
            return seen, watermark
        await asyncio.sleep(random.uniform(0, 0.02))


async def test_delta_pull_with_concurrent_writers(engine: AsyncEngine, store: Store) -> None:
    random.seed(7)
    written: list[str] = []

    async def writer(name: str, n: int) -> None:
        for i in range(n):
            async with engine.connect() as conn:
                # Like the repository: take the write lock (SQLite: BEGIN IMMEDIATE), then
                # stamp; the commit follows within settle_seconds of the stamp.
                conn = await conn.execution_options(esp_write=True)
                async with conn.begin():
                    stamp = _now()
                    rid = f"{name}{i}"
                    await store.put(careplan(rid, "p1", REHAB), at=stamp, conn=conn)
                    await asyncio.sleep(random.uniform(0, SETTLE / 2))  # a slow commit
            written.append(f"{rid}@1")

    since = _now()
    writers = asyncio.gather(writer("a", 12), writer("b", 12), writer("c", 12))
    pulled: list[str] = []
    while not writers.done():
        got, since = await _pull(engine, since, SETTLE)
        pulled += got
        await asyncio.sleep(0.05)
    await writers
    await asyncio.sleep(SETTLE + 0.1)
    got, since = await _pull(engine, since, SETTLE)
    pulled += got
    assert len(pulled) == len(set(pulled)), "an entry was pulled twice"
    assert sorted(pulled) == sorted(written), "an entry was missed"


# PostgreSQL only: SQLite serialises writers, so a second writer can never commit first.
@pytest.mark.parametrize("search_db_url", ["postgres"], indirect=True)
async def test_slow_writer_behind_the_cursor(engine: AsyncEngine, store: Store) -> None:
    """Without settle, a writer stamped before a reader's watermark but committed after is lost."""

    async def run(settle: float) -> list[str]:
        start = _now()
        async with engine.connect() as slow, slow.begin():
            await store.put(careplan(f"slow{settle}", "p1", REHAB), at=_now(), conn=slow)
            await asyncio.sleep(0.05)
            await store.put(careplan(f"fast{settle}", "p1", REHAB), at=_now())
            await asyncio.sleep(0.05)
            first, mark = await _pull(engine, start, settle)
        await asyncio.sleep(settle + 0.1)
        second, _ = await _pull(engine, mark, settle)
        return [e for e in first + second if e.endswith(f"{settle}@1")]

    unsafe = await run(0.0)
    assert "slow0.0@1" not in unsafe  # the problem the watermark solves
    safe = await run(SETTLE)
    assert sorted(safe) == [f"fast{SETTLE}@1", f"slow{SETTLE}@1"]

"""Queued index rows (app/storage/pending.py): visible to every later read, never lost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.storage import bulk, pending
from app.storage.pending import UnflushedRows
from app.storage.search_types.date import search_date
from app.storage.tables import compartment, resource, resource_version, search_token


async def _head(conn: AsyncConnection, rid: str) -> int:
    inserted = await conn.execute(
        resource.insert().values(
            res_type="Patient", res_id=rid, version_id=1, last_updated=func.now(), deleted=False
        )
    )
    pk = int(inserted.inserted_primary_key[0])
    # The head must point at a version by commit (a deferred FK); queue it like the repository.
    pending.defer(conn, resource_version, [_version(pk, rid)])
    return pk


def _version(pk: int, rid: str) -> dict[str, Any]:
    return {
        "res_pk": pk,
        "version_id": 1,
        "prev_version": None,
        "res_type": "Patient",
        "res_id": rid,
        "last_updated": datetime(2024, 1, 1, tzinfo=UTC),
        "method": "PUT",
        "deleted": False,
        "content": {"resourceType": "Patient", "id": rid},
    }


# JSON that must come back as it went in: floats, big integers, escapes, nulls, nesting.
RICH = {
    "resourceType": "Patient",
    "valueQuantity": {"value": 1.5, "unit": "kg"},
    "count": 12345678901234,
    "note": [{"text": 'Æ "quoted" \\ back\nslash \u00e9'}, None, {"empty": []}],
    "flag": False,
}


async def _count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(compartment))).scalar_one())


async def test_a_read_in_the_same_transaction_sees_queued_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        pk = await _head(conn, "queued")
        pending.defer(conn, compartment, [{"res_pk": pk, "patient_id": "queued"}])
        # Another INSERT does not flush; the SELECT does, before it runs.
        await _head(conn, "other")
        assert await _count(conn) == 1
    async with engine.connect() as conn:
        assert await _count(conn) == 1


async def test_commit_with_queued_rows_fails_instead_of_losing_them(engine: AsyncEngine) -> None:
    with pytest.raises(UnflushedRows):
        async with engine.begin() as conn:
            pk = await _head(conn, "lost")
            pending.defer(conn, compartment, [{"res_pk": pk, "patient_id": "lost"}])
    async with engine.connect() as conn:
        found = await conn.execute(select(resource.c.pk).where(resource.c.res_id == "lost"))
        assert found.first() is None, "the transaction was rolled back"


async def test_rollback_discards_queued_rows(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        async with conn.begin() as tx:
            pk = await _head(conn, "rolled")
            pending.defer(conn, compartment, [{"res_pk": pk, "patient_id": "rolled"}])
            await tx.rollback()
        async with conn.begin():
            assert await _count(conn) == 0  # nothing queued leaked into the next transaction
            await _head(conn, "after")  # and its own rows commit cleanly
            await pending.flush_now(conn)


async def test_flushed_rows_keep_their_types(engine: AsyncEngine) -> None:
    """COPY on PostgreSQL stores what an INSERT would: zoned instants, JSON, NULLs."""
    content = {"resourceType": "Patient", "id": "typed", "name": [{"family": "Ærø"}]}
    async with engine.begin() as conn:
        pk = await _head(conn, "typed")
        version = {
            "res_pk": pk,
            "version_id": 2,
            "prev_version": 1,
            "res_type": "Patient",
            "res_id": "typed",
            "last_updated": datetime(2024, 6, 1, 12, 30, 15, 123000, tzinfo=UTC),
            "method": "PUT",
            "deleted": False,
            "content": content,
        }
        pending.defer(conn, resource_version, [version])
        stored = (
            await conn.execute(
                select(resource_version).where(
                    (resource_version.c.res_pk == pk) & (resource_version.c.version_id == 2)
                )
            )
        ).one()
    assert stored.last_updated == version["last_updated"]
    assert stored.content == content
    assert stored.prev_version == 1 and stored.deleted is False


async def test_a_failing_flush_raises_a_database_error_and_writes_nothing(
    engine: AsyncEngine,
) -> None:
    """A constraint violation in the bulk write surfaces as SQLAlchemy's IntegrityError
    (what the unit of work maps to 503 for transient failures), never a driver error."""
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            pk = await _head(conn, "twice")
            rows = [{"res_pk": pk, "patient_id": "twice"}] * 2  # the same primary key twice
            pending.defer(conn, compartment, rows)
            await _count(conn)
    async with engine.connect() as conn:
        assert await _count(conn) == 0


async def _flush_sample(engine: AsyncEngine, rid: str) -> dict[str, list[tuple[object, ...]]]:
    """Queue rows for several tables (NULLs, instants, JSON, text), flush, read them back."""
    async with engine.begin() as conn:
        pk = await _head(conn, rid)
        stamp = datetime(2024, 6, 1, 12, 30, 15, 123000, tzinfo=UTC)
        second = {
            **_version(pk, rid),
            "version_id": 2,
            "prev_version": 1,
            "last_updated": stamp,
            "content": RICH,
        }
        pending.defer(conn, resource_version, [second])
        pending.defer(conn, compartment, [{"res_pk": pk, "patient_id": p} for p in ("a", "b")])
        pending.defer(
            conn,
            search_token,
            [
                {
                    "res_pk": pk,
                    "res_type": "Patient",
                    "param": "identifier",
                    "system": "s",
                    "code": "c",
                    "text": None,
                },
                {
                    "res_pk": pk,
                    "res_type": "Patient",
                    "param": "gender",
                    "system": None,
                    "code": "female",
                    "text": "Kvinde ÆØÅ",
                },
            ],
        )
        pending.defer(
            conn,
            search_date,
            [
                {
                    "res_pk": pk,
                    "res_type": "Patient",
                    "param": "birthdate",
                    "low": stamp,
                    "high": None,
                }
            ],
        )
        rows = {}
        for table in (resource_version, compartment, search_token, search_date):
            found = await conn.execute(select(table).where(table.c.res_pk == pk))
            rows[table.name] = sorted(
                (tuple(v for k, v in r._mapping.items() if k != "res_pk") for r in found),
                key=repr,
            )
    return rows


async def test_few_and_many_rows_are_stored_alike(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small flush (one statement of arrays on PostgreSQL) stores exactly what COPY does."""
    statements: list[str] = []
    execute, copy = bulk._execute, bulk._copy

    async def one_statement(driver: Any, statement: str, params: Any) -> None:
        statements.append("statement")
        await execute(driver, statement, params)

    async def copied(driver: Any, statement: str, values: Any) -> None:
        statements.append("copy")
        await copy(driver, statement, values)

    monkeypatch.setattr(bulk, "_execute", one_statement)
    monkeypatch.setattr(bulk, "_copy", copied)
    few = await _flush_sample(engine, "few")
    small = list(statements)
    statements.clear()
    monkeypatch.setattr(bulk, "SMALL_FLUSH_ROWS", 0)
    many = await _flush_sample(engine, "many")
    # res_id (and the content's id) differ by design; the rest must be equal.
    strip = {"resource_version": lambda r: (*r[:3], *r[4:7], r[7] if r[0] == 2 else None, *r[8:])}
    for name, rows in few.items():
        assert rows, name
        cut = strip.get(name, lambda r: r)
        assert [cut(r) for r in rows] == [cut(r) for r in many[name]], name
    assert [r[7] for r in few["resource_version"] if r[0] == 2] == [RICH]
    if engine.dialect.name == "postgresql":
        assert small == ["statement"], "four tables, one statement"
        assert statements == ["copy"] * 4

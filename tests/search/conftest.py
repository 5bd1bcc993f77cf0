"""Search tests run on SQLite and PostgreSQL: one schema per backend and session,
emptied before each test. With CI=true an unreachable PostgreSQL fails the run."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ColumnElement, FromClause, create_engine, delete, text, true, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.storage import pending
from app.storage.engine import create_engine_async, create_engine_sync
from app.storage.indexer import write_index
from app.storage.tables import metadata, resource, resource_version
from tests.support.databases import postgres_admin_url, postgres_unavailable

BASE = "http://testserver/fhir"
KEY = b"k" * 32


def allow_all(
    resource_type: str, r: FromClause, *, patient_scoped: bool = False
) -> ColumnElement[bool]:
    return true()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def search_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('search')) / 'search.db'}"
        engine = create_engine_sync(url)
        metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    schema = f"esp_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        postgres_unavailable(str(exc).splitlines()[0])
        return
    url = make_url(postgres_admin_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        engine = create_engine_sync(rendered)
        metadata.create_all(engine)
        engine.dispose()
        yield rendered
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
async def engine(search_db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine_async(search_db_url)
    async with eng.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if conn.dialect.name == "postgresql":
                await conn.execute(text(f'TRUNCATE "{table.name}" CASCADE'))
            else:
                await conn.execute(text("PRAGMA defer_foreign_keys=ON"))
                await conn.execute(delete(table))
    yield eng
    await eng.dispose()


class Store:
    """Writes resources the way the repository does: resource + version + index rows."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.clock = datetime(2024, 1, 1, tzinfo=UTC)
        self.pks: dict[str, int] = {}

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    async def put(
        self,
        content: dict[str, Any],
        *,
        at: datetime | None = None,
        conn: AsyncConnection | None = None,
    ) -> int:
        if conn is None:
            async with self.engine.begin() as own:
                return await self.put(content, at=at, conn=own)
        stamp = at or self.tick()
        key = f"{content['resourceType']}/{content['id']}"
        pk = self.pks.get(key)
        if pk is None:
            result = await conn.execute(
                resource.insert().values(
                    res_type=content["resourceType"],
                    res_id=content["id"],
                    version_id=1,
                    last_updated=stamp,
                    deleted=False,
                )
            )
            pk = int(result.inserted_primary_key[0])
            version = 1
        else:
            version = (
                await conn.execute(resource.select().where(resource.c.pk == pk))
            ).one().version_id + 1
            await conn.execute(
                update(resource)
                .where(resource.c.pk == pk)
                .values(version_id=version, last_updated=stamp)
            )
        content = {**content, "meta": {**content.get("meta", {}), "versionId": str(version)}}
        await conn.execute(
            resource_version.insert().values(
                res_pk=pk,
                version_id=version,
                prev_version=None if version == 1 else version - 1,
                res_type=content["resourceType"],
                res_id=content["id"],
                last_updated=stamp,
                method="PUT",
                deleted=False,
                content=content,
            )
        )
        await write_index(conn, pk, content["resourceType"], content, replace=version > 1)
        await pending.flush_now(conn)  # as the unit of work does before it commits
        self.pks[key] = pk
        return pk

    async def delete(self, key: str) -> None:
        pk = self.pks[key]
        async with self.engine.begin() as conn:
            row = (await conn.execute(resource.select().where(resource.c.pk == pk))).one()
            version = row.version_id + 1
            rtype, rid = key.split("/")
            await conn.execute(
                update(resource)
                .where(resource.c.pk == pk)
                .values(version_id=version, last_updated=self.tick(), deleted=True)
            )
            await conn.execute(
                resource_version.insert().values(
                    res_pk=pk,
                    version_id=version,
                    prev_version=version - 1,
                    res_type=rtype,
                    res_id=rid,
                    last_updated=self.clock,
                    method="DELETE",
                    deleted=True,
                    content=None,
                )
            )
            await write_index(conn, pk, rtype, None, replace=True)


@pytest.fixture
def store(engine: AsyncEngine) -> Store:
    return Store(engine)

"""Storage: the engine plus units of work; the request owns the transaction.

A unit of work is one database transaction: everything written in it (resource
versions, index rows, AuditEvents) commits together or not at all
(PRINCIPLES.md, principle 8).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.access.policy import AccessPolicy
from app.fhir.instant import now_utc, truncate_to_millis
from app.fhir.outcome import FhirError
from app.storage import pending
from app.storage.access_facts import AccessFacts
from app.storage.horizon import writer_stamp
from app.storage.indexer import access_rows_stale
from app.storage.repository import Repository
from app.storage.tables import service_setting

# PostgreSQL: deadlock_detected, serialization_failure.
_TRANSIENT_SQLSTATES = {"40P01", "40001"}

# Who the unit of work serves: a policy, or how to build one from facts read in the same
# transaction (a custody holder's policy depends on the child's custody records).
PolicyBuilder = Callable[[AccessFacts], Awaitable[AccessPolicy]]
Access = AccessPolicy | PolicyBuilder


class Storage:
    """Owns the engine; hands out repositories inside transactions."""

    def __init__(self, engine: AsyncEngine, *, base_url: str) -> None:
        self.engine = engine
        self.base_url = base_url
        self.postgres = engine.dialect.name == "postgresql"
        self._access_rows_checked = False

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def check_access_rows(self) -> None:
        """Refuse to serve while a migration's access-row rebuild is pending (503).

        Deciding access on rows that were not derived yet would fail open or closed at
        random; `esp-careplans db upgrade` rebuilds them. Checked once per process.
        """
        if self._access_rows_checked:
            return
        async with self.engine.connect() as conn:
            stale = await access_rows_stale(conn)
        if stale:
            raise FhirError(
                503,
                FhirError.of(
                    503, "transient", "Access rows need rebuilding: run `esp-careplans db upgrade`"
                ).issues,
                {"Retry-After": "60"},
            )
        self._access_rows_checked = True

    async def setting(self, key: str) -> str | None:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    select(service_setting.c.value).where(service_setting.c.key == key)
                )
            ).scalar_one_or_none()

    @asynccontextmanager
    async def unit_of_work(
        self, access: Access, *, write: bool, transaction: bool = True
    ) -> AsyncIterator[Repository]:
        """One transaction whose repository sees only what `access` lets it see.

        There is no default: a job that reads data names its principal (an internal job
        uses `AccessPolicy.internal`). Commits when the block ends normally, rolls back on
        any error; what the block registered with `repository.after_commit` runs once the
        commit succeeded, never after a rollback. A deadlock or serialization failure
        between concurrent writers is transient: the client gets 503 with Retry-After and
        may simply retry.

        `transaction=False` (reads only): the block's statements need no transaction block
        (no SET LOCAL, nothing written). PostgreSQL then runs them in autocommit, which
        saves BEGIN and COMMIT, two of a read by id's three round trips; what they see is
        unchanged, since under READ COMMITTED every statement takes its own snapshot
        anyway. SQLite keeps its transaction (one snapshot for the block, no round trips).
        """
        if write and not transaction:
            raise ValueError("a write always runs in a transaction")
        try:
            async with self._transaction(write, access, transaction) as repository:
                yield repository
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
                raise FhirError(
                    503,
                    FhirError.of(503, "transient", "Concurrent update conflict; retry").issues,
                    {"Retry-After": "1"},
                ) from exc
            raise

    @asynccontextmanager
    async def _transaction(
        self, write: bool, access: Access, transaction: bool
    ) -> AsyncIterator[Repository]:
        await self.check_access_rows()
        async with self.engine.connect() as conn:
            if write:
                conn = await conn.execution_options(esp_write=True)
            elif not transaction and self.postgres:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with conn.begin():
                stamp = await writer_stamp(conn) if write else now_utc()
                policy = (
                    access if isinstance(access, AccessPolicy) else await access(AccessFacts(conn))
                )
                repository = Repository(
                    conn,
                    policy=policy,
                    stamp=stamp,
                    base_url=self.base_url,
                    clock=lambda: self._now(conn),
                )
                yield repository
                await pending.flush_now(conn)
        await repository.run_after_commit()

    async def _now(self, conn: AsyncConnection) -> datetime:
        """One clock for all app nodes: the database's."""
        if not self.postgres:
            return now_utc()
        value = (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()
        return truncate_to_millis(value)

"""Bulk Data $export jobs and the patients each one exported (docs/bulk.md).

A job row records who asked (the client's owner key and principal snapshot: the job
reads as that client), what it asked for, the types whose file is complete, and which
worker holds it (a lease, `leases.py`). A type's file enters `output` only once it has
been written whole and renamed into place, so a manifest never names a partial file; a
worker that dies mid-type leaves no output for it, and the next worker writes that type
again from the start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from app.storage import leases
from app.storage.tables import export_job, export_patient

ACTIVE = ("queued", "running")


@dataclass(frozen=True, slots=True)
class ExportJob:
    id: str
    owner: str
    principal: dict[str, str]
    level: str
    request: str
    params: dict[str, Any]
    status: str
    transaction_time: datetime
    expires_at: datetime
    output: list[dict[str, Any]]
    progress: str | None
    error: str | None
    attempts: int

    @property
    def types(self) -> list[str]:
        return list(self.params["types"])

    @property
    def done(self) -> set[str]:
        return {str(item["type"]) for item in self.output}


class ExportLedger:
    """The export jobs (internal jobs only: the repository hands it out to them)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def create(
        self,
        job_id: str,
        *,
        owner: str,
        principal: dict[str, str],
        level: str,
        request: str,
        params: dict[str, Any],
        transaction_time: datetime,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self._conn.execute(
            export_job.insert().values(
                id=job_id,
                owner=owner,
                principal=principal,
                level=level,
                request=request,
                params=params,
                status="queued",
                transaction_time=transaction_time,
                created_at=now,
                expires_at=expires_at,
                output=[],
                attempts=0,
            )
        )

    async def get(self, job_id: str, owner: str) -> ExportJob | None:
        """The job if `owner` asked for it (anyone else is told nothing)."""
        jobs = await self._jobs([job_id])
        return jobs[0] if jobs and jobs[0].owner == owner else None

    async def delete(self, job_id: str, owner: str) -> bool:
        """Cancel and forget `owner`'s job (its patients go with it)."""
        j = export_job
        result = await self._conn.execute(delete(j).where(j.c.id == job_id, j.c.owner == owner))
        return bool(result.rowcount)

    async def claim(
        self, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[ExportJob]:
        """Lease up to `limit` unfinished jobs that no live worker holds, oldest first."""
        j = export_job
        ids = await leases.claim(
            self._conn,
            j,
            "id",
            due=[j.c.status.in_(ACTIVE)],
            order_by=[j.c.created_at, j.c.id],
            worker=worker,
            now=now,
            lease=lease,
            limit=limit,
            values={"status": "running", "attempts": j.c.attempts + 1},
        )
        return await self._jobs(ids)

    async def progress(
        self,
        job_id: str,
        worker: str,
        until: datetime,
        progress: str,
        patients: Iterable[str] = (),
    ) -> bool:
        """Record a page's patients and the progress, renewing the lease; False when the
        job was cancelled or another worker holds it now."""
        alive = await leases.renew(
            self._conn,
            export_job,
            "id",
            job_id,
            worker=worker,
            until=until,
            values={"progress": progress},
        )
        rows = [{"job_id": job_id, "patient_id": p} for p in sorted(set(patients))]
        if alive and rows:
            insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
            await self._conn.execute(insert(export_patient).values(rows).on_conflict_do_nothing())
        return alive

    async def finish_type(
        self, job: ExportJob, worker: str, until: datetime, item: dict[str, Any]
    ) -> bool:
        """A type's file is complete and in place: it joins the job's output."""
        current = await self._jobs([job.id])
        if not current:
            return False
        output = [o for o in current[0].output if o["type"] != item["type"]] + [item]
        return await leases.renew(
            self._conn,
            export_job,
            "id",
            job.id,
            worker=worker,
            until=until,
            values={"output": output},
        )

    async def patients(self, job_id: str, after: str, limit: int) -> list[str]:
        """The next `limit` patients of the job after `after` (keyset, in id order)."""
        p = export_patient
        rows = await self._conn.execute(
            select(p.c.patient_id)
            .where(p.c.job_id == job_id, p.c.patient_id > after)
            .order_by(p.c.patient_id)
            .limit(limit)
        )
        return [str(row[0]) for row in rows.all()]

    async def complete(self, job_id: str, worker: str, expires_at: datetime) -> bool:
        """Every file is in place: the manifest may be shown (until `expires_at`)."""
        return await self._finish(job_id, worker, status="complete", expires_at=expires_at)

    async def fail(self, job_id: str, worker: str, error: str, expires_at: datetime) -> bool:
        """The job cannot complete: its status answers with `error` until it expires."""
        return await self._finish(
            job_id, worker, status="failed", error=error[:1000], expires_at=expires_at
        )

    async def _finish(self, job_id: str, worker: str, **values: Any) -> bool:
        j = export_job
        result = await self._conn.execute(
            update(j)
            .where(leases.held_by(j, "id", job_id, worker))
            .values(lease_owner=None, lease_until=None, progress=None, **values)
        )
        await self._conn.execute(delete(export_patient).where(export_patient.c.job_id == job_id))
        return bool(result.rowcount)

    async def release(self, job_id: str, worker: str) -> None:
        await leases.release(self._conn, export_job, "id", job_id, worker)

    async def expire(self, now: datetime) -> list[str]:
        """Forget the jobs that expired; their ids (their files are to be deleted)."""
        j = export_job
        rows = await self._conn.execute(delete(j).where(j.c.expires_at < now).returning(j.c.id))
        return [str(row[0]) for row in rows.all()]

    async def known(self, job_ids: Sequence[str]) -> set[str]:
        """Which of `job_ids` still exist (the others' directories are leftovers)."""
        if not job_ids:
            return set()
        j = export_job
        rows = await self._conn.execute(select(j.c.id).where(j.c.id.in_(list(job_ids))))
        return {str(row[0]) for row in rows.all()}

    async def _jobs(self, ids: Sequence[str]) -> list[ExportJob]:
        if not ids:
            return []
        j = export_job
        rows = await self._conn.execute(select(j).where(j.c.id.in_(list(ids))).order_by(j.c.id))
        return [
            ExportJob(
                row.id,
                row.owner,
                dict(row.principal),
                row.level,
                row.request,
                dict(row.params),
                row.status,
                row.transaction_time,
                row.expires_at,
                list(row.output),
                row.progress,
                row.error,
                row.attempts,
            )
            for row in rows.all()
        ]

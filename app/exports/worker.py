"""The export worker: runs Bulk Data `$export` jobs as the client that asked for them.

A worker leases a job (app/storage/leases.py) and exports its types one by one. Each
type is read with the search a GET would run, page by page (keyset paging through the
repository), under the policy of the client's own principal restored from the job, so
only what that organisation may see goes into the file: its treatment relations, what
was shared with it, minus opt-outs; never the service's internal view. Pages are written
to a temporary file as they come (constant memory), which is renamed into place when the
type is complete and only then joins the job's output. A worker that dies leaves its
lease to expire; the next one writes the unfinished type again from the start. When all
types are written, one AuditEvent per patient whose data the files hold is recorded in
the same transaction that marks the job complete. Expired jobs and their files are
deleted by the worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

import orjson

from app.access.authorities import Authorities
from app.access.decision import AccessDenied
from app.access.policy import AccessPolicy
from app.access.principal import InvalidClaims, Principal
from app.audit.recorder import AUDIT_WRITER, AuditTrail
from app.fhir.bulk import type_criteria
from app.fhir.outcome import FhirError
from app.fhir.search.model import ANY_PATIENT
from app.fhir.search.parse import parse_search
from app.interactions.access_setup import ExternalRegistries, build_policy
from app.interactions.context import RequestContext
from app.interactions.export import (
    EXPORTER,
    ExportSettings,
    job_directory,
    remove_files,
)
from app.interactions.polling import work_until, worker_name
from app.interactions.request import FhirRequest
from app.storage.access_facts import AccessFacts
from app.storage.exports import ExportJob
from app.storage.repository import SearchLimits
from app.storage.unit_of_work import Storage

log = logging.getLogger("esp.exports")
EXPORT_INTERACTION = "bulk-export"
MAX_ATTEMPTS = 3  # a job that kills its worker this often fails instead of looping
AUDIT_CHUNK = 500
SWEEP_SECONDS = 60.0  # how often a worker looks for expired jobs


class LeaseLost(Exception):
    """The job was cancelled or another worker holds it now: stop without a trace."""


class ExportWorker:
    """One export worker (several may run, on several nodes: leases keep them apart)."""

    def __init__(
        self,
        storage: Storage,
        *,
        settings: ExportSettings,
        registries: ExternalRegistries,
        authorities: Authorities,
        cursor_key: bytes | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.registries = registries
        self.authorities = authorities
        self.name = worker_name()
        self.audit = AuditTrail()
        self._cursor_key = cursor_key
        self._clock = clock
        self._wake = asyncio.Event()
        self._next_sweep = 0.0

    async def nudge(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run_forever(self, stop: asyncio.Event) -> None:
        await work_until(stop, self.run_once, self._wake, self.settings.poll_seconds, log)

    async def run_once(self) -> int:
        """One round: delete what expired (at most once a minute), lease a job and run it;
        how many jobs ran."""
        if time.monotonic() >= self._next_sweep:
            await self.expire()
            self._next_sweep = time.monotonic() + SWEEP_SECONDS
        async with self.storage.unit_of_work(EXPORTER, write=True) as repo:
            now = self._now(repo.stamp)
            jobs = await repo.export_ledger.claim(self.name, now, self.settings.lease, 1)
        for job in jobs:
            try:
                await self._run(job)
            except LeaseLost:
                log.info("export job %s was cancelled or taken over", job.id)
            finally:
                async with self.storage.unit_of_work(EXPORTER, write=True) as repo:
                    await repo.export_ledger.release(job.id, self.name)
        return len(jobs)

    async def expire(self) -> list[str]:
        """Delete the jobs whose retention ran out, their files, and leftover directories."""
        async with self.storage.unit_of_work(EXPORTER, write=True) as repo:
            now = self._now(repo.stamp)
            gone = await repo.export_ledger.expire(now)
        for job_id in gone:
            remove_files(self.settings, job_id)
        directory = self.settings.directory
        if directory.is_dir():
            # A job cancelled while a worker was starting a type may leave a directory.
            names = [p.name for p in directory.iterdir() if p.is_dir()]
            async with self.storage.unit_of_work(EXPORTER, write=False) as repo:
                known = await repo.export_ledger.known(names)
            old = now.timestamp() - self.settings.lease.total_seconds()
            for name in names:
                if name not in known and (directory / name).stat().st_mtime < old:
                    remove_files(self.settings, name)
        return gone

    def _now(self, stamp: datetime) -> datetime:
        return self._clock() if self._clock is not None else stamp

    async def _key(self) -> bytes:
        if self._cursor_key is None:
            secret = await self.storage.setting("cursor_secret")
            if secret is None:
                raise RuntimeError("The database is not migrated: run `esp-careplans db upgrade`")
            self._cursor_key = secret.encode()
        return self._cursor_key

    # -- one job ---------------------------------------------------------------------

    async def _run(self, job: ExportJob) -> None:
        if job.attempts > MAX_ATTEMPTS:
            await self._fail(job, f"The export failed {MAX_ATTEMPTS} times; start a new one")
            return
        try:
            owner = Principal.restore(job.principal)
        except (InvalidClaims, KeyError):
            await self._fail(job, "The export's client cannot be restored")
            return
        try:
            for rtype in job.types:
                if rtype not in job.done:
                    try:
                        await self._export_type(job, owner, rtype)
                    except OSError:
                        # A job deleted meanwhile takes its directory with it.
                        await self._progress(job, f"{rtype}: failed to write", set())
                        raise
            await self._complete(job, owner)
        except AccessDenied as exc:  # e.g. the client's relations or scopes changed
            await self._fail(job, f"Refused ({exc.rule.value}): {exc.message}")
        except FhirError as exc:
            await self._fail(job, str(exc))

    async def _export_type(self, job: ExportJob, owner: Principal, rtype: str) -> None:
        """Write one type's file page by page; it joins the output once whole and in place."""
        settings = self.settings
        ctx = RequestContext(request_id=f"export-{job.id}", principal=owner)
        req = FhirRequest(method="GET", resource_type=rtype)

        async def policy_for(facts: AccessFacts) -> AccessPolicy:
            return await build_policy(facts, ctx, req, self.registries, self.authorities)

        request = parse_search(
            [rtype],
            type_criteria(job.params, rtype, job.transaction_time),
            base_url=self.storage.base_url,
            default_count=settings.page_size,
            max_count=settings.page_size,
        )
        if job.level == "patient" and rtype != "Patient":
            # Patient/$export: only what lies in some patient's compartment (a Provenance
            # of an Organization is a compartment type's resource but nobody's data).
            request = replace(request, compartment=ANY_PATIENT)
        limits = SearchLimits(settings.page_size, settings.page_size, 0)
        key = await self._key()
        directory = job_directory(settings, job.id)
        directory.mkdir(parents=True, exist_ok=True)
        # A name of its own per attempt: a worker that lost its lease never writes into
        # the file of the one that took over.
        name = f"{rtype}-{uuid.uuid4().hex[:12]}.ndjson"
        part = directory / f"{name}.part"
        count, cursor = 0, None
        try:
            with part.open("wb") as out:
                while True:
                    async with self.storage.unit_of_work(policy_for, write=False) as repo:
                        page = await repo.search(
                            request, cursor=cursor, cursor_key=key, limits=limits
                        )
                        by_pk = await repo.compartments(row.pk for row in page.matches)
                    for row in page.matches:
                        out.write(orjson.dumps(row.content))
                        out.write(b"\n")
                    count += len(page.matches)
                    patients = {p for ids in by_pk.values() for p in ids}
                    await self._progress(job, f"{rtype}: {count} resources", patients)
                    if page.next_cursor is None:
                        break
                    cursor = page.next_cursor
                out.flush()
                os.fsync(out.fileno())
            if count:
                os.replace(part, directory / name)
            else:  # the manifest lists no file for a type with nothing to export
                part.unlink()
            item = {"type": rtype, "file": name if count else None, "count": count}
            async with self.storage.unit_of_work(EXPORTER, write=True) as repo:
                until = self._now(repo.stamp) + settings.lease
                if not await repo.export_ledger.finish_type(job, self.name, until, item):
                    raise LeaseLost(job.id)
        except Exception:  # not on a crash: that part file is never named in the output
            part.unlink(missing_ok=True)
            (directory / name).unlink(missing_ok=True)
            raise

    async def _progress(self, job: ExportJob, progress: str, patients: set[str]) -> None:
        async with self.storage.unit_of_work(EXPORTER, write=True) as repo:
            until = self._now(repo.stamp) + self.settings.lease
            if not await repo.export_ledger.progress(job.id, self.name, until, progress, patients):
                raise LeaseLost(job.id)

    async def _complete(self, job: ExportJob, owner: Principal) -> None:
        """One AuditEvent per patient in the files, committed with the job's completion."""
        rule = AccessPolicy(owner, self.authorities).read_filter("Patient", "search").rule
        async with self.storage.unit_of_work(AUDIT_WRITER, write=True) as repo:
            ledger = repo.export_ledger
            after = ""
            while batch := await ledger.patients(job.id, after, AUDIT_CHUNK):
                await self.audit.record_outcome(
                    repo,
                    owner,
                    interaction=EXPORT_INTERACTION,
                    outcome="0",
                    rule=rule.value,
                    message=f"Bulk export {job.id} ({', '.join(job.types)})",
                    patients=batch,
                    request_id=f"export-{job.id}",
                )
                after = batch[-1]
            expires = self._now(repo.stamp) + self.settings.retention
            if not await ledger.complete(job.id, self.name, expires):
                raise LeaseLost(job.id)  # rolls the audit back with it: nothing was shown

    async def _fail(self, job: ExportJob, error: str) -> None:
        log.warning("export job %s failed: %s", job.id, error)
        async with self.storage.unit_of_work(EXPORTER, write=True) as repo:
            expires = self._now(repo.stamp) + self.settings.retention
            failed = await repo.export_ledger.fail(job.id, self.name, error, expires)
        if failed:
            remove_files(self.settings, job.id)

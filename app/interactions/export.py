"""Bulk Data `$export` requests (kick-off, status, cancel, files), independent of HTTP.

The kick-off is refused unless a Backend Services client asks (SMART `system/` scopes)
and its scopes let it search every type it names; the job then runs as that client in
the export worker (app/exports/worker.py). A job, its status and its files belong to the
client that asked: to anyone else they do not exist (404). docs/bulk.md.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from app.access.policy import AccessPolicy
from app.access.principal import Principal
from app.access.rules import Rule
from app.fhir.bulk import ExportRequest, Level, manifest, parse_kickoff
from app.fhir.outcome import FhirError
from app.storage.exports import ExportJob
from app.storage.unit_of_work import Storage

EXPORTER = AccessPolicy.internal("bulk-export")
FILE_PATH = "$export-file"
STATUS_PATH = "$export-status"


@dataclass(frozen=True, slots=True)
class ExportSettings:
    directory: Path
    retention: timedelta = timedelta(hours=24)
    lease: timedelta = timedelta(seconds=60)
    poll_seconds: float = 1.0
    page_size: int = 500
    retry_after_seconds: int = 2


@dataclass(frozen=True, slots=True)
class ExportStatus:
    """What the status URL answers: 202 while running, 200 with the manifest, or an error."""

    status: int
    manifest: dict[str, object] | None = None
    progress: str | None = None
    error: str | None = None


def owner_key(principal: Principal) -> str:
    """Whose job it is: the organisation and the client (another client of the same
    organisation cannot see it either)."""
    return f"{principal.owner_key}|client:{principal.client_id or principal.subject}"


def job_directory(settings: ExportSettings, job_id: str) -> Path:
    return settings.directory / job_id


def remove_files(settings: ExportSettings, job_id: str) -> None:
    shutil.rmtree(job_directory(settings, job_id), ignore_errors=True)


def not_found(job_id: str) -> FhirError:
    return FhirError.of(404, "not-found", f"No export job '{job_id}' of this client")


def check_exporter(principal: Principal) -> None:
    """Bulk export is for Backend Services clients (SMART `system/` scopes) only."""
    if principal.user_type != "system":
        raise forbidden(
            Rule.BULK_EXPORT_SYSTEM_ONLY,
            "$export needs a Backend Services token (SMART system/ scopes)",
        )


def forbidden(rule: Rule, message: str) -> FhirError:
    return FhirError.of(403, "forbidden", message, rule=rule.value)


class ExportService:
    """Kick-off, status, cancel and files of export jobs."""

    def __init__(self, storage: Storage, settings: ExportSettings) -> None:
        self.storage = storage
        self.settings = settings
        # Work after a job was queued (wakes the export worker of this process).
        self.on_queued: Callable[[], Awaitable[None]] | None = None

    @property
    def base_url(self) -> str:
        return self.storage.base_url

    async def kickoff(
        self,
        principal: Principal,
        level: Level,
        params: list[tuple[str, str]],
        *,
        request_url: str,
        lenient: bool,
    ) -> str:
        """Queue a job; its status URL. 400 for bad parameters, 403 for what the client's
        scopes do not let it read."""
        check_exporter(principal)
        request = parse_kickoff(level, params, base_url=self.base_url, lenient=lenient)
        types = readable_types(principal, request)
        job_id = uuid.uuid4().hex
        async with self.storage.unit_of_work(EXPORTER, write=True) as repo:
            # Everything stamped at or before the commit horizon has committed (horizon.py).
            transaction_time = await repo.commit_horizon()
            now = repo.stamp
            await repo.export_ledger.create(
                job_id,
                owner=owner_key(principal),
                principal=principal.snapshot(),
                level=level,
                request=request_url,
                params=request.params(types),
                transaction_time=transaction_time,
                now=now,
                expires_at=now + self.settings.retention,
            )
        if self.on_queued is not None:
            await self.on_queued()
        return f"{self.base_url}/{STATUS_PATH}/{job_id}"

    async def _job(self, principal: Principal, job_id: str) -> ExportJob:
        check_exporter(principal)
        async with self.storage.unit_of_work(EXPORTER, write=False) as repo:
            job = await repo.export_ledger.get(job_id, owner_key(principal))
        if job is None:
            raise not_found(job_id)
        return job

    async def status(self, principal: Principal, job_id: str) -> ExportStatus:
        job = await self._job(principal, job_id)
        if job.status == "failed":
            return ExportStatus(500, error=job.error or "The export failed")
        if job.status != "complete":
            done, total = len(job.done), len(job.types)
            return ExportStatus(202, progress=job.progress or f"{job.status}: {done}/{total} types")
        by_type = {item["type"]: item for item in job.output}
        files = [
            (t, self.file_url(job.id, by_type[t]["file"]), int(by_type[t]["count"]))
            for t in job.types
            if t in by_type and int(by_type[t]["count"]) > 0
        ]
        return ExportStatus(
            200,
            manifest=manifest(
                transaction_time=job.transaction_time, request=job.request, output=files
            ),
        )

    def file_url(self, job_id: str, name: str) -> str:
        return f"{self.base_url}/{FILE_PATH}/{job_id}/{name}"

    async def cancel(self, principal: Principal, job_id: str) -> None:
        """DELETE on the status URL: the job and its files are gone (export.html#delete)."""
        check_exporter(principal)
        async with self.storage.unit_of_work(EXPORTER, write=True) as repo:
            deleted = await repo.export_ledger.delete(job_id, owner_key(principal))
        if not deleted:
            raise not_found(job_id)
        remove_files(self.settings, job_id)

    async def file(self, principal: Principal, job_id: str, name: str) -> Path:
        """The path of a complete job's file, for the client that asked only."""
        job = await self._job(principal, job_id)
        if job.status != "complete" or name not in {item["file"] for item in job.output}:
            raise FhirError.of(404, "not-found", f"No file '{name}' in export job '{job_id}'")
        path = job_directory(self.settings, job_id) / name
        if not path.is_file():
            raise FhirError.of(404, "not-found", f"The file '{name}' has expired")
        return path


def readable_types(principal: Principal, request: ExportRequest) -> list[str]:
    """The types the client's scopes let it search; 403 for a type `_type` named that they
    do not (the export would silently be missing it), or when none is left."""
    policy = AccessPolicy(principal)
    granted = [t for t in request.types if not policy.read_filter(t, "search").deny_all]
    refused = [t for t in request.types if t not in granted]
    if refused and request.explicit_types:
        raise forbidden(Rule.SCOPE, f"No scope lets this client search {', '.join(refused)}")
    if not granted:
        raise forbidden(Rule.SCOPE, "No scope lets this client search any exportable type")
    return granted

"""A node that dies mid-export: the next worker finishes the job, and no manifest ever
names a partial file (docs/bulk.md, "Durability")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from fastapi.testclient import TestClient

from app.exports.worker import ExportWorker
from app.fhir.instant import now_utc
from app.interactions.access_setup import ExternalRegistries
from app.interactions.export import EXPORTER
from app.main import export_worker
from app.settings import Settings
from app.storage.exports import ExportJob
from app.storage.unit_of_work import Storage
from tests.events.test_export import (
    export_audit,
    exported,
    exported_ids,
    kickoff,
    manifest_of,
    on_storage,
    run_worker,
    searched_ids,
    status_path,
    system,
)
from tests.support.tokens import HOSPITAL_SOR, TokenFactory


class Died(BaseException):
    """The node went away (SIGKILL): nothing below gets to clean up."""


class DiesAfterPages(ExportWorker):
    """A worker whose node dies after `pages` pages."""

    pages = 5

    async def _progress(self, job: ExportJob, progress: str, patients: set[str]) -> None:
        await super()._progress(job, progress, patients)
        self.pages -= 1
        if self.pages == 0:
            raise Died


W = TypeVar("W", bound=ExportWorker)


def worker_of(kind: type[W], settings: Settings, storage: Storage) -> W:
    """A worker of `kind` configured as `esp-careplans export-worker` would be."""
    plain = export_worker(settings, storage, ExternalRegistries())
    return kind(
        storage,
        settings=plain.settings,
        registries=ExternalRegistries(),
        authorities=plain.authorities,
    )


def _die_mid_job(settings: Settings, *, at: datetime | None = None, pages: int = 5) -> None:
    """Claim the only job (at `at`: past an earlier worker's lease) and run it until the
    node dies after `pages` pages."""

    async def work(storage: Storage) -> None:
        worker = worker_of(DiesAfterPages, settings, storage)
        worker.pages = pages
        async with storage.unit_of_work(EXPORTER, write=True) as repo:
            ledger = repo.export_ledger
            (job,) = await ledger.claim(worker.name, at or repo.stamp, worker.settings.lease, 1)
        try:
            await worker._run(job)  # no release: the node is gone
        except Died:
            return
        raise AssertionError("the worker finished before it died")

    on_storage(settings, work)


def _lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.export_lease_seconds)


def test_a_second_worker_completes_a_job_whose_worker_died(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    hospital = system(tokens, sor=HOSPITAL_SOR)
    url = kickoff(bulk, hospital, _type="Patient,CarePlan,Condition")
    _die_mid_job(export_settings)
    job_dir = export_settings.export_dir / url.rsplit("/", 1)[1]
    assert any(p.name.endswith(".part") for p in job_dir.iterdir()), "died mid-file"
    # The status says it runs; no manifest names a file yet.
    assert bulk.get(status_path(url), headers=hospital).status_code == 202
    # A live worker leaves the job alone while the dead one's lease runs...
    assert run_worker(export_settings) == 0
    # ...and takes it over once the lease has run out.
    later = now_utc() + _lease(export_settings) * 2
    assert run_worker(export_settings, clock=later) == 1
    manifest = manifest_of(bulk, url, hospital)
    assert [i["type"] for i in manifest["output"]] == ["Patient", "CarePlan", "Condition"]
    assert not any(i["url"].endswith(".part") for i in manifest["output"])
    found = exported_ids(exported(bulk, manifest, hospital))  # each file's count checked
    for rtype in ("Patient", "CarePlan", "Condition"):
        assert found[rtype] == searched_ids(bulk, hospital, rtype)


def test_a_job_that_keeps_killing_its_worker_fails_cleanly(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    hospital = system(tokens, sor=HOSPITAL_SOR)
    url = kickoff(bulk, hospital, _type="Patient")
    lease = _lease(export_settings)
    for attempt in range(1, 4):
        _die_mid_job(export_settings, at=now_utc() + lease * 3 * attempt, pages=1)
    run_worker(export_settings, clock=now_utc() + lease * 20)
    failed = bulk.get(status_path(url), headers=hospital)
    assert failed.status_code == 500
    assert failed.json()["resourceType"] == "OperationOutcome"
    assert not (export_settings.export_dir / url.rsplit("/", 1)[1]).exists()


class OvertakenWorker(ExportWorker):
    """A worker that stalls past its lease after its first page: meanwhile `rival` (a
    worker whose clock is past that lease) takes the job over and completes it."""

    rival: ExportWorker | None = None

    async def _progress(self, job: ExportJob, progress: str, patients: set[str]) -> None:
        await super()._progress(job, progress, patients)
        rival, self.rival = self.rival, None
        if rival is not None:
            assert await rival.run_once() == 1


def test_a_worker_that_lost_its_lease_stops_and_leaves_no_file(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    hospital = system(tokens, sor=HOSPITAL_SOR)
    url = kickoff(bulk, hospital, _type="Patient,CarePlan")

    async def work(storage: Storage) -> None:
        slow = worker_of(OvertakenWorker, export_settings, storage)
        rival = worker_of(ExportWorker, export_settings, storage)
        later = now_utc() + _lease(export_settings) * 2
        rival._clock = lambda: later
        slow.rival = rival
        assert await slow.run_once() == 1  # it ran, lost the job, and stopped quietly

    on_storage(export_settings, work)
    manifest = manifest_of(bulk, url, hospital)
    names = {i["url"].rsplit("/", 1)[1] for i in manifest["output"]}
    job_dir = export_settings.export_dir / url.rsplit("/", 1)[1]
    assert {p.name for p in job_dir.iterdir()} == names  # nothing of the overtaken worker
    found = exported_ids(exported(bulk, manifest, hospital))
    assert found["Patient"] == searched_ids(bulk, hospital, "Patient")
    assert found["CarePlan"] == searched_ids(bulk, hospital, "CarePlan")


class CancelledMidJob(ExportWorker):
    """A worker whose job its client deletes after the first page."""

    cancel: Callable[[], None] | None = None

    async def _progress(self, job: ExportJob, progress: str, patients: set[str]) -> None:
        await super()._progress(job, progress, patients)
        cancel, self.cancel = self.cancel, None
        if cancel is not None:
            cancel()


def test_a_job_deleted_while_it_runs_stops_and_leaves_nothing(
    bulk: TestClient, tokens: TokenFactory, export_settings: Settings
) -> None:
    hospital = system(tokens, sor=HOSPITAL_SOR)
    url = kickoff(bulk, hospital, _type="Patient,CarePlan")

    def cancel() -> None:
        assert bulk.delete(status_path(url), headers=hospital).status_code == 202

    async def work(storage: Storage) -> None:
        worker = worker_of(CancelledMidJob, export_settings, storage)
        worker.cancel = cancel
        assert await worker.run_once() == 1  # it ran, found the job gone, and stopped

    on_storage(export_settings, work)
    assert bulk.get(status_path(url), headers=hospital).status_code == 404
    job_dir = export_settings.export_dir / url.rsplit("/", 1)[1]
    assert not job_dir.exists() or not any(job_dir.iterdir())
    assert export_audit(export_settings, url.rsplit("/", 1)[1]) == {}

"""The unit of work: the request owns the transaction, and work that must follow a commit
runs only after it (issue #15 part 0)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from app.access.policy import AccessPolicy
from app.fhir.outcome import FhirError
from app.settings import Settings
from app.storage import indexer
from app.storage.engine import create_engine_async
from app.storage.repository import Repository
from app.storage.unit_of_work import Storage
from tests.support.databases import truncate_all
from tests.support.resources import careplan, organization
from tests.support.tokens import MUNICIPALITY_SOR, TokenFactory

JOB = AccessPolicy.internal("unit-of-work-test")


@pytest.fixture
async def storage(settings: Settings) -> AsyncIterator[Storage]:
    truncate_all(settings.database_url)
    engine = create_engine_async(settings.database_url)
    yield Storage(engine, base_url=settings.base_url)
    await engine.dispose()


async def test_after_commit_work_runs_once_the_commit_is_visible(storage: Storage) -> None:
    seen: list[bool] = []

    async def check() -> None:
        async with storage.unit_of_work(JOB, write=False) as other:
            seen.append(await other.exists_visible("CarePlan", "committed"))

    async with storage.unit_of_work(JOB, write=True) as repo:
        await repo.create(careplan(), resource_id="committed")
        repo.after_commit(check)
        assert seen == []
    assert seen == [True]


async def test_after_commit_work_never_runs_after_a_rollback(storage: Storage) -> None:
    ran: list[str] = []

    async def record() -> None:
        ran.append("ran")

    with pytest.raises(FhirError):
        async with storage.unit_of_work(JOB, write=True) as repo:
            await repo.create(careplan(), resource_id="rolled-back")
            repo.after_commit(record)
            raise FhirError.of(400, "invalid", "the request fails after writing")
    assert ran == []
    async with storage.unit_of_work(JOB, write=False) as repo:
        assert not await repo.exists_visible("CarePlan", "rolled-back")


async def test_failing_after_commit_work_is_logged_and_keeps_the_commit(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    async def fail() -> None:
        raise RuntimeError("the notifier is down")

    with caplog.at_level(logging.ERROR, logger="esp.storage"):
        async with storage.unit_of_work(JOB, write=True) as repo:
            await repo.create(careplan(), resource_id="kept")
            repo.after_commit(fail)
    assert "after-commit work failed" in caplog.text
    async with storage.unit_of_work(JOB, write=False) as repo:
        assert await repo.exists_visible("CarePlan", "kept")


async def _in_transaction_block(repo: Repository) -> bool:
    """Whether the repository's statements run inside BEGIN ... COMMIT (the server's view)."""
    conn = repo._conn  # the test looks under the repository, where no caller can
    if conn.dialect.name != "postgresql":
        return conn.in_transaction()
    raw = await conn.get_raw_connection()
    return not raw.driver_connection.autocommit


async def test_a_read_without_a_transaction_block_sees_what_is_committed(
    storage: Storage,
) -> None:
    """`transaction=False`: autocommit on PostgreSQL (no BEGIN/COMMIT round trips), same
    answers; the pooled connection is back in transaction mode for the next unit of work."""
    async with storage.unit_of_work(JOB, write=True) as repo:
        await repo.create(careplan(), resource_id="autocommit")
        assert await _in_transaction_block(repo)
    async with storage.unit_of_work(JOB, write=False, transaction=False) as repo:
        assert (await repo.read("CarePlan", "autocommit")).version_id == 1
        assert await _in_transaction_block(repo) == (not storage.postgres)
    for write in (False, True):
        async with storage.unit_of_work(JOB, write=write) as repo:
            assert await repo.exists_visible("CarePlan", "autocommit")
            assert await _in_transaction_block(repo)


async def test_a_write_always_runs_in_a_transaction(storage: Storage) -> None:
    with pytest.raises(ValueError, match="transaction"):
        async with storage.unit_of_work(JOB, write=True, transaction=False):
            pass


async def test_compartments_of_written_versions_are_what_their_rows_say(storage: Storage) -> None:
    """The repository answers compartments of versions it wrote without reading them back
    (no flush, no SELECT); the answers must equal what the stored rows say, a deletion
    included (it keeps its earlier compartment rows)."""
    async with storage.unit_of_work(JOB, write=True) as repo:
        plan = await repo.create(careplan("Patient/p1"), resource_id="memo")
        other = await repo.create(careplan("Patient/p2"), resource_id="memo-deleted")
        await repo.delete("CarePlan", "memo-deleted")
        updated, _ = await repo.update(careplan("Patient/p3", id="memo"), "memo")
        in_transaction = await repo.compartments([plan.pk, other.pk])
        (targets,) = await indexer.provenance_patients(
            repo._conn,  # what create_server_records asks, with its known compartments
            [{"target": [{"reference": "CarePlan/memo"}, {"reference": "CarePlan/memo-deleted"}]}],
            known=repo._written_compartments.by_reference,
        )
    assert updated.pk == plan.pk
    async with storage.unit_of_work(JOB, write=False) as repo:
        stored = await repo.compartments([plan.pk, other.pk])
    assert in_transaction == stored == {plan.pk: {"p3"}, other.pk: {"p2"}}
    assert targets == {"p2", "p3"}


async def test_read_many_answers_as_read_does_for_each(
    storage: Storage, tokens: TokenFactory
) -> None:
    """One statement for several references (the write-time resolver): what is hidden or
    absent is left out, visible ones are what `read` returns, a deleted one answers 410."""
    municipality = AccessPolicy(tokens.principal(tokens.system_claims(sor=MUNICIPALITY_SOR)))
    async with storage.unit_of_work(JOB, write=True) as repo:
        await repo.create(careplan(), resource_id="not-theirs")
    async with storage.unit_of_work(municipality, write=True) as repo:
        await repo.create(careplan(), resource_id="theirs")
        await repo.create(organization(), resource_id="an-org")
        await repo.create(careplan(), resource_id="gone")
        await repo.delete("CarePlan", "gone")
    wanted = [
        ("CarePlan", "theirs"),
        ("CarePlan", "not-theirs"),
        ("Organization", "an-org"),
        ("CarePlan", "absent"),
    ]
    async with storage.unit_of_work(municipality, write=False) as repo:
        found = await repo.read_many(wanted)
        assert set(found) == {("CarePlan", "theirs"), ("Organization", "an-org")}
        for reference in wanted:
            try:
                stored = await repo.read(*reference)
            except FhirError as exc:
                assert exc.status == 404 and reference not in found
            else:
                assert found[reference] == stored
        with pytest.raises(FhirError) as many:
            await repo.read_many([("CarePlan", "theirs"), ("CarePlan", "gone")])
        with pytest.raises(FhirError) as one:
            await repo.read("CarePlan", "gone")
    assert many.value.status == one.value.status == 410
    assert many.value.issues == one.value.issues and many.value.headers == one.value.headers

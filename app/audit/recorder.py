"""Write the AuditEvents of a request: one per patient whose data it touched.

A failed audit fails the request (PRINCIPLES.md principle 8). Writes record their
events in their own transaction, so the change and its audit commit together.
Read-only requests hand theirs to `AccessLog`, which commits the events of many
concurrent requests in one transaction; each request still answers only after its
events are committed, so no read is ever answered unaudited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from app.access.policy import AccessPolicy
from app.access.principal import Principal
from app.audit.events import AuditRecord, Outcome, audit_entry
from app.audit.provenance import provenance
from app.fhir.audit_event import AuditEntry
from app.storage.repository import Repository
from app.storage.unit_of_work import Storage

MAX_RESOURCES_PER_EVENT = 100
# Events of at most this many requests go into one group transaction.
MAX_GROUP = 256
# The internal job that writes AuditEvents. It reads nothing on anyone's behalf, and what
# it writes is the audit trail itself, so it is not audited again.
AUDIT_WRITER = AccessPolicy.internal("audit-writer")


@dataclass(frozen=True, slots=True)
class Access:
    """What one successful request touched, to be audited."""

    principal: Principal
    interaction: str
    rule: str
    touched: Sequence[tuple[int, str]]  # (pk, "Type/id")
    request_id: str
    query: str | None = None
    # An aggregate (quality data): one record naming no patient and no resource, with
    # this purpose of use, however many resources it counted.
    aggregate_purpose: str | None = None

    def records(self, by_pk: Mapping[int, set[str]]) -> list[AuditRecord]:
        """One record per patient whose compartment holds a touched resource (and the
        aggregate's own record)."""
        per_patient: dict[str, list[str]] = {}
        for pk, reference in self.touched:
            for patient in sorted(by_pk.get(pk, ())):
                refs = per_patient.setdefault(patient, [])
                if reference not in refs:
                    refs.append(reference)
        records = [
            AuditRecord(
                self.interaction,
                "0",
                self.rule,
                patient,
                refs[:MAX_RESOURCES_PER_EVENT],
                query=self.query,
            )
            for patient, refs in sorted(per_patient.items())
        ]
        if self.aggregate_purpose is not None:
            records.append(
                AuditRecord(
                    self.interaction,
                    "0",
                    self.rule,
                    None,
                    query=self.query,
                    purpose=self.aggregate_purpose,
                )
            )
        return records


class AuditTrail:
    """Builds and stores AuditEvents through a repository (the caller's transaction)."""

    def __init__(self) -> None:
        self._org_names: dict[str, str | None] = {}

    async def _org_name(self, repo: Repository, principal: Principal) -> str | None:
        sor = principal.org_sor
        if not sor:
            return None
        if sor not in self._org_names:
            self._org_names[sor] = await repo.organization_name(sor)
        return self._org_names[sor]

    async def record_accesses(self, repo: Repository, accesses: Sequence[Access]) -> None:
        """The events of successful requests, with one compartment lookup for all of them."""
        by_pk = await repo.compartments(pk for a in accesses for pk, _ in a.touched)
        entries: list[AuditEntry] = []
        for access in accesses:
            org_name = await self._org_name(repo, access.principal)
            entries.extend(
                audit_entry(
                    record,
                    principal=access.principal,
                    recorded=repo.stamp,
                    org_name=org_name,
                    request_id=access.request_id,
                )
                for record in access.records(by_pk)
            )
        repo.record_audit(entries)

    async def record_provenance(self, repo: Repository) -> None:
        """One Provenance per version this unit of work wrote, in the same transaction.

        Each joins its target's patient compartment; who may read it is decided by its
        target (storage/access_sql.py), so it can never tell more than the target does.
        """
        written = repo.take_written()
        if not written:
            return
        principal = repo.policy.principal
        org_name = await self._org_name(repo, principal)
        await repo.create_server_records(
            [provenance(stored, principal, org_name) for stored in written]
        )

    async def record_outcome(
        self,
        repo: Repository,
        principal: Principal,
        *,
        interaction: str,
        outcome: Outcome,
        rule: str,
        message: str,
        patients: Iterable[str],
        request_id: str,
        resources: Sequence[str] = (),
    ) -> None:
        """An event with its outcome (a refusal, a notification sent or failed): one per
        patient concerned (or one without a patient)."""
        patient_ids: list[str | None] = [*sorted(set(patients))] or [None]
        org_name = await self._org_name(repo, principal)
        repo.record_audit(
            [
                audit_entry(
                    AuditRecord(
                        interaction, outcome, rule, patient, tuple(resources), description=message
                    ),
                    principal=principal,
                    recorded=repo.stamp,
                    org_name=org_name,
                    request_id=request_id,
                )
                for patient in patient_ids
            ]
        )


class AccessLog:
    """Group commit for the AuditEvents of read-only requests.

    While one group transaction runs, the requests that finish meanwhile queue up and
    go into the next one: under load, N concurrent reads cost one audit transaction
    instead of N, and at low load a read waits for nothing but its own events.
    """

    def __init__(self, storage: Storage, trail: AuditTrail) -> None:
        self._storage = storage
        self._trail = trail
        # Per event loop (tests and embedding servers may run more than one).
        self._groups: dict[asyncio.AbstractEventLoop, _Group] = {}

    async def commit(self, access: Access) -> None:
        """Return once `access`'s events are committed; raise if writing them failed."""
        loop = asyncio.get_running_loop()
        group = self._groups.get(loop)
        if group is None:
            self._groups = {lp: g for lp, g in self._groups.items() if not lp.is_closed()}
            group = self._groups[loop] = _Group()
        done = loop.create_future()
        group.queue.append((access, done))
        if group.writer is None or group.writer.done():
            group.writer = loop.create_task(self._drain(group))
        # Shielded: a client that disconnects must not cancel the others' group.
        await asyncio.shield(done)

    async def _drain(self, group: _Group) -> None:
        while group.queue:
            batch, group.queue = group.queue[:MAX_GROUP], group.queue[MAX_GROUP:]
            try:
                async with self._storage.unit_of_work(AUDIT_WRITER, write=True) as repo:
                    await self._trail.record_accesses(repo, [access for access, _ in batch])
            except Exception as exc:  # every waiting request fails with the cause
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


@dataclass(slots=True)
class _Group:
    queue: list[tuple[Access, asyncio.Future[None]]] = field(default_factory=list)
    writer: asyncio.Task[None] | None = None

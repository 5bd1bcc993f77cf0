"""Write the AuditEvents of a request through its own repository (same transaction).

A failed audit fails the request (PRINCIPLES.md principle 8): the events are
written before the unit of work commits, or nothing is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app.access.principal import Principal
from app.audit.events import AuditRecord, Outcome, audit_event
from app.storage.access_facts import compartments, organization_name
from app.storage.repository import Repository

MAX_RESOURCES_PER_EVENT = 100


class AuditTrail:
    """Builds and stores one AuditEvent per patient whose data a request touched."""

    def __init__(self) -> None:
        self._org_names: dict[str, str | None] = {}

    async def _org_name(self, repo: Repository, principal: Principal | None) -> str | None:
        sor = principal.org_sor if principal else None
        if not sor:
            return None
        if sor not in self._org_names:
            self._org_names[sor] = await organization_name(repo.conn, sor)
        return self._org_names[sor]

    async def record_access(
        self,
        repo: Repository,
        principal: Principal | None,
        *,
        interaction: str,
        rule: str,
        touched: Sequence[tuple[int, str]],
        request_id: str,
        query: str | None = None,
    ) -> None:
        """Success: one event per patient whose compartment holds a touched resource."""
        by_pk = await compartments(repo.conn, (pk for pk, _ in touched))
        per_patient: dict[str, list[str]] = {}
        for pk, reference in touched:
            for patient in sorted(by_pk.get(pk, ())):
                refs = per_patient.setdefault(patient, [])
                if reference not in refs:
                    refs.append(reference)
        await self._write(
            repo,
            principal,
            [
                AuditRecord(
                    interaction, "0", rule, patient, refs[:MAX_RESOURCES_PER_EVENT], query=query
                )
                for patient, refs in sorted(per_patient.items())
            ],
            request_id,
        )

    async def record_refusal(
        self,
        repo: Repository,
        principal: Principal | None,
        *,
        interaction: str,
        rule: str,
        message: str,
        patients: Iterable[str],
        request_id: str,
        outcome: Outcome = "4",
    ) -> None:
        """Refusal: one event per patient concerned (or one without a patient)."""
        patient_ids: list[str | None] = [*sorted(set(patients))] or [None]
        await self._write(
            repo,
            principal,
            [
                AuditRecord(interaction, outcome, rule, patient, description=message)
                for patient in patient_ids
            ],
            request_id,
        )

    async def _write(
        self,
        repo: Repository,
        principal: Principal | None,
        records: Sequence[AuditRecord],
        request_id: str,
    ) -> None:
        if not records:
            return
        org_name = await self._org_name(repo, principal)
        events = [
            audit_event(
                record,
                principal=principal,
                recorded=repo.stamp,
                org_name=org_name,
                request_id=request_id,
            )
            for record in records
        ]
        await repo.create_server_records(events)

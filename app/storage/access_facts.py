"""Facts the authorization policy needs, read inside the request before the policy exists.

`AccessFacts` is what the policy builder gets instead of a connection: a handful of
narrow questions (which Patient holds a CPR, the custody records of a child written by a
custody authority, recorded treatment relations), never resource search or content.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, false, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.access.custody import CUSTODY_CODE, RELATIONSHIP_SYSTEM, Child
from app.fhir.profiles.canonical import CPR_SYSTEM
from app.storage.tables import (
    compartment,
    patient_cpr,
    resource,
    resource_version,
    search_reference,
    search_token,
    treatment_relation,
)


def current_versions(*conditions: Any) -> Any:
    """SELECT (res_id, content) of the current, not deleted resources matching `conditions`."""
    return (
        select(resource.c.res_id, resource_version.c.content)
        .join(
            resource_version,
            and_(
                resource_version.c.res_pk == resource.c.pk,
                resource_version.c.version_id == resource.c.version_id,
            ),
        )
        .where(resource.c.deleted == false(), *conditions)
    )


async def identifiers_of(
    conn: AsyncConnection, resource_type: str, ids: Iterable[str], system: str
) -> dict[str, str]:
    """The identifier value in `system` of each of these resources that carries one."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await conn.execute(
        select(resource.c.res_id, search_token.c.code)
        .join(search_token, search_token.c.res_pk == resource.c.pk)
        .where(
            resource.c.res_type == resource_type,
            resource.c.res_id.in_(wanted),
            search_token.c.param == "identifier",
            search_token.c.system == system,
        )
    )
    return {str(key): str(value) for key, value in rows.all()}


async def compartments(conn: AsyncConnection, pks: Iterable[int]) -> dict[int, set[str]]:
    """The patients each resource belongs to (R4 patient compartment)."""
    wanted = sorted(set(pks))
    result: dict[int, set[str]] = {}
    for start in range(0, len(wanted), 500):
        rows = await conn.execute(
            select(compartment.c.res_pk, compartment.c.patient_id).where(
                compartment.c.res_pk.in_(wanted[start : start + 500])
            )
        )
        for pk, patient in rows.all():
            result.setdefault(pk, set()).add(patient)
    return result


async def patient_for_cpr(conn: AsyncConnection, cpr: str) -> tuple[int, str] | None:
    """(pk, id) of the Patient holding this CPR number, if any (one Patient per CPR)."""
    row = (
        await conn.execute(
            select(resource.c.pk, resource.c.res_id)
            .join(patient_cpr, patient_cpr.c.res_pk == resource.c.pk)
            .where(patient_cpr.c.cpr == cpr, resource.c.deleted == false())
        )
    ).first()
    return None if row is None else (int(row.pk), str(row.res_id))


@dataclass(frozen=True, slots=True)
class ChildCandidate:
    """A child named by a custody record carrying the parent's CPR number."""

    cpr: str
    child: Child
    patient: dict[str, Any]  # the child's Patient record, for the name
    # The child's PARAUTH records written by a custody authority: what decide_custody reads.
    related_persons: tuple[dict[str, Any], ...]


def _related_persons_with(param: str, system: str, code: str) -> Select[tuple[int]]:
    return select(search_token.c.res_pk).where(
        search_token.c.res_type == "RelatedPerson",
        search_token.c.param == param,
        search_token.c.system == system,
        search_token.c.code == code,
    )


class AccessFacts:
    """The fact queries of policy building, over the request's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def patient(self, patient_id: str) -> dict[str, Any] | None:
        """The current content of one Patient (a sign-in's own record, for its name)."""
        query = current_versions(resource.c.res_type == "Patient", resource.c.res_id == patient_id)
        row = (await self._conn.execute(query)).first()
        return None if row is None else dict(row.content)

    async def children_in_custody(
        self, parent_cpr: str, custody_authorities: Iterable[str]
    ) -> list[ChildCandidate]:
        """Children of custody records written by a custody authority with `parent_cpr`,
        ordered by CPR number: the candidates of a SMART launch's child picker (whether
        custody holds today is for `decide_custody`)."""
        authorities = sorted(set(custody_authorities))
        if not authorities:
            return []
        parents = select(resource.c.pk).where(
            resource.c.res_type == "RelatedPerson",
            resource.c.deleted == false(),
            resource.c.author_sor.in_(authorities),
            resource.c.pk.in_(_related_persons_with("identifier", CPR_SYSTEM, parent_cpr)),
            resource.c.pk.in_(
                _related_persons_with("relationship", RELATIONSHIP_SYSTEM, CUSTODY_CODE)
            ),
        )
        rows = await self._conn.execute(
            select(search_reference.c.target_id)
            .where(
                search_reference.c.res_pk.in_(parents),
                search_reference.c.res_type == "RelatedPerson",
                search_reference.c.param == "patient",
                search_reference.c.target_type == "Patient",
            )
            .distinct()
        )
        patient_ids = [str(row[0]) for row in rows.all()]
        candidates = []
        for cpr in sorted(set((await self.cprs_of_patients(patient_ids)).values())):
            child = await self.child(cpr)
            patient = await self.patient(child.patient_ids[0]) if child.patient_ids else None
            if patient is None:
                continue
            records = await self.custody_records(child.patient_ids, authorities)
            candidates.append(ChildCandidate(cpr, child, patient, tuple(records)))
        return candidates

    async def patient_for_cpr(self, cpr: str) -> tuple[int, str] | None:
        return await patient_for_cpr(self._conn, cpr)

    async def child(self, child_cpr: str) -> Child:
        """The child's Patient record, as far as custody needs it."""
        found = await patient_for_cpr(self._conn, child_cpr)
        if found is None:
            return Child((), None)
        row = (await self._conn.execute(current_versions(resource.c.pk == found[0]))).first()
        birth_text = row.content.get("birthDate") if row is not None else None
        birth = (
            date.fromisoformat(birth_text[:10])
            if isinstance(birth_text, str) and len(birth_text) >= 10
            else None
        )
        return Child((found[1],), birth)

    async def custody_records(
        self, patient_ids: Iterable[str], custody_authorities: Iterable[str]
    ) -> list[dict[str, Any]]:
        """Current PARAUTH RelatedPersons of these patients written by a custody authority."""
        ids, authorities = sorted(set(patient_ids)), sorted(set(custody_authorities))
        if not ids or not authorities:
            return []
        of_patient = select(search_reference.c.res_pk).where(
            search_reference.c.res_type == "RelatedPerson",
            search_reference.c.param == "patient",
            search_reference.c.target_type == "Patient",
            search_reference.c.target_id.in_(ids),
        )
        parauth = _related_persons_with("relationship", RELATIONSHIP_SYSTEM, CUSTODY_CODE)
        rows = await self._conn.execute(
            current_versions(
                resource.c.res_type == "RelatedPerson",
                resource.c.author_sor.in_(authorities),
                resource.c.pk.in_(of_patient),
                resource.c.pk.in_(parauth),
            )
        )
        return [row.content for row in rows.all()]

    async def related_patients(
        self, org_sor: str, patient_ids: Iterable[str], relation_authorities: Iterable[str]
    ) -> set[str]:
        """Which of these patients the organisation has an authority-recorded relation to."""
        ids, authorities = sorted(set(patient_ids)), sorted(set(relation_authorities))
        if not ids or not authorities:
            return set()
        rows = await self._conn.execute(
            select(treatment_relation.c.patient_id)
            .where(
                treatment_relation.c.org_sor == org_sor,
                treatment_relation.c.patient_id.in_(ids),
                treatment_relation.c.recorded_by.in_(authorities),
            )
            .distinct()
        )
        return {row[0] for row in rows.all()}

    async def compartment_of(self, resource_type: str, resource_id: str) -> set[str]:
        """The patients of one resource, whoever asks (to consult external services)."""
        rows = await self._conn.execute(
            select(compartment.c.patient_id)
            .join(resource, resource.c.pk == compartment.c.res_pk)
            .where(resource.c.res_type == resource_type, resource.c.res_id == resource_id)
        )
        return {row[0] for row in rows.all()}

    async def cprs_of_patients(self, patient_ids: Iterable[str]) -> dict[str, str]:
        """CPR number of each Patient id that carries one."""
        return await identifiers_of(self._conn, "Patient", patient_ids, CPR_SYSTEM)


@asynccontextmanager
async def read_facts(engine: AsyncEngine) -> AsyncIterator[AccessFacts]:
    """AccessFacts in a transaction of their own, for deciding whom a sign-in may act for
    (the SMART launch) outside any FHIR request."""
    async with engine.connect() as conn, conn.begin():
        yield AccessFacts(conn)

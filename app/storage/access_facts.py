"""Facts the authorization policy needs from the database, read inside the request."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import and_, false, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.access.custody import CUSTODY_CODE, RELATIONSHIP_SYSTEM, Child
from app.fhir.profiles.canonical import CPR_SYSTEM, SOR_SYSTEM
from app.storage.tables import (
    care_relation,
    compartment,
    resource,
    resource_version,
    search_reference,
    search_token,
)


def _current(*conditions: Any) -> Any:
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


async def patients_with_cpr(conn: AsyncConnection, cpr: str) -> list[tuple[str, dict[str, Any]]]:
    """(id, content) of every current Patient carrying this CPR number."""
    token = select(search_token.c.res_pk).where(
        search_token.c.res_type == "Patient",
        search_token.c.param == "identifier",
        search_token.c.code == cpr,
        search_token.c.system == CPR_SYSTEM,
    )
    rows = await conn.execute(
        _current(resource.c.res_type == "Patient", resource.c.pk.in_(token)).order_by(resource.c.pk)
    )
    return [(row.res_id, row.content) for row in rows.all()]


async def load_child(conn: AsyncConnection, child_cpr: str) -> Child:
    patients = await patients_with_cpr(conn, child_cpr)
    births = [str(p["birthDate"]) for _, p in patients if isinstance(p.get("birthDate"), str)]
    birth = date.fromisoformat(births[0][:10]) if births and len(births[0]) >= 10 else None
    return Child(tuple(pid for pid, _ in patients), birth)


async def custody_records(
    conn: AsyncConnection, patient_ids: Iterable[str]
) -> list[dict[str, Any]]:
    """Current RelatedPersons of these patients coded PARAUTH (custody)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return []
    of_patient = select(search_reference.c.res_pk).where(
        search_reference.c.res_type == "RelatedPerson",
        search_reference.c.param == "patient",
        search_reference.c.target_type == "Patient",
        search_reference.c.target_id.in_(ids),
    )
    parauth = select(search_token.c.res_pk).where(
        search_token.c.res_type == "RelatedPerson",
        search_token.c.param == "relationship",
        search_token.c.code == CUSTODY_CODE,
        search_token.c.system == RELATIONSHIP_SYSTEM,
    )
    rows = await conn.execute(
        _current(
            resource.c.res_type == "RelatedPerson",
            resource.c.pk.in_(of_patient),
            resource.c.pk.in_(parauth),
        )
    )
    return [row.content for row in rows.all()]


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


async def organization_name(conn: AsyncConnection, sor: str) -> str | None:
    token = select(search_token.c.res_pk).where(
        search_token.c.res_type == "Organization",
        search_token.c.param == "identifier",
        search_token.c.code == sor,
        search_token.c.system == SOR_SYSTEM,
    )
    row = (
        await conn.execute(
            _current(resource.c.res_type == "Organization", resource.c.pk.in_(token)).limit(1)
        )
    ).first()
    name = row.content.get("name") if row else None
    return name if isinstance(name, str) else None


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


async def cprs_of_patients(conn: AsyncConnection, patient_ids: Iterable[str]) -> dict[str, str]:
    """CPR number of each Patient id that carries one."""
    return await identifiers_of(conn, "Patient", patient_ids, CPR_SYSTEM)


async def related_patients(
    conn: AsyncConnection, org_sor: str, patient_ids: Iterable[str]
) -> set[str]:
    """Which of these patients the organisation already has a recorded treatment relation to."""
    ids = sorted(set(patient_ids))
    if not ids:
        return set()
    rows = await conn.execute(
        select(care_relation.c.patient_id)
        .where(care_relation.c.org_sor == org_sor, care_relation.c.patient_id.in_(ids))
        .distinct()
    )
    return {row[0] for row in rows.all()}


async def compartment_of(conn: AsyncConnection, resource_type: str, resource_id: str) -> set[str]:
    """The patients of one resource, whoever asks (to consult external services)."""
    rows = await conn.execute(
        select(compartment.c.patient_id)
        .join(resource, resource.c.pk == compartment.c.res_pk)
        .where(resource.c.res_type == resource_type, resource.c.res_id == resource_id)
    )
    return {row[0] for row in rows.all()}

"""The children a parent may hold custody of, for the SMART launch's child picker.

Only candidates: whether custody is verified (and the child under 15, or continued
under sundhedsloven §39b) is decided per child by `app.access.custody.decide_custody`
with the facts returned here, the same facts the access rules use for a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, false, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.access.custody import CUSTODY_CODE, RELATIONSHIP_SYSTEM, Child
from app.fhir.profiles.canonical import CPR_SYSTEM
from app.storage.access_facts import (
    cprs_of_patients,
    custody_records,
    load_child,
    patients_with_cpr,
)
from app.storage.tables import resource, search_reference, search_token


@dataclass(frozen=True, slots=True)
class ChildCandidate:
    """A child named by a PARAUTH RelatedPerson that carries the parent's CPR number."""

    cpr: str
    child: Child
    patient: dict[str, Any]  # the child's first Patient record, for the name
    # The child's current PARAUTH RelatedPersons (any holder): what decide_custody reads.
    related_persons: tuple[dict[str, Any], ...]


async def children_in_custody(conn: AsyncConnection, parent_cpr: str) -> list[ChildCandidate]:
    """Children of current PARAUTH RelatedPersons with `parent_cpr`, ordered by CPR number."""
    parents = select(resource.c.pk).where(
        resource.c.res_type == "RelatedPerson",
        resource.c.deleted == false(),
        resource.c.pk.in_(_related_persons_with("identifier", CPR_SYSTEM, parent_cpr)),
        resource.c.pk.in_(_related_persons_with("relationship", RELATIONSHIP_SYSTEM, CUSTODY_CODE)),
    )
    rows = await conn.execute(
        select(search_reference.c.target_id)
        .where(
            and_(
                search_reference.c.res_pk.in_(parents),
                search_reference.c.res_type == "RelatedPerson",
                search_reference.c.param == "patient",
                search_reference.c.target_type == "Patient",
            )
        )
        .distinct()
    )
    patient_ids = [str(row[0]) for row in rows.all()]
    candidates = []
    for cpr in sorted(set((await cprs_of_patients(conn, patient_ids)).values())):
        child = await load_child(conn, cpr)
        records = await custody_records(conn, child.patient_ids)
        patients = await patients_with_cpr(conn, cpr)
        candidates.append(ChildCandidate(cpr, child, patients[0][1], tuple(records)))
    return candidates


def _related_persons_with(param: str, system: str, code: str) -> Select[tuple[int]]:
    return select(search_token.c.res_pk).where(
        search_token.c.res_type == "RelatedPerson",
        search_token.c.param == param,
        search_token.c.system == system,
        search_token.c.code == code,
    )

"""Writes the treatment-relation and opt-out rows of a resource's current version.

Derived rows are rewritten with every version; authorship rows accumulate,
because an organisation that once wrote in a patient's record has treated them
(sundhedsloven §42a).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import Insert, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from app.access.relation_facts import OrgMention, opt_out_facts, organization_mentions
from app.fhir.profiles.canonical import SOR_SYSTEM
from app.storage import pending
from app.storage.access_facts import identifiers_of
from app.storage.tables import care_relation, opt_out

# care_relation.patient_id of a resource that belongs to no patient.
NO_PATIENT = ""


async def _sor_by_organization_id(
    conn: AsyncConnection, ids: Iterable[str], known: dict[str, str]
) -> dict[str, str]:
    """SOR codes of these Organizations; `known` holds those already looked up in this
    transaction (a Bundle's entries name the same few organisations over and over)."""
    wanted = set(ids)
    missing = wanted - known.keys()
    if missing:
        known.update(await identifiers_of(conn, "Organization", missing, SOR_SYSTEM))
    return {i: known[i] for i in wanted if i in known}


@cache
def _insert_ignoring_duplicates(dialect: str) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(care_relation).on_conflict_do_nothing()


async def write_relations(
    conn: AsyncConnection,
    res_pk: int,
    content: dict[str, Any] | None,
    patients: set[str],
    author_sor: str | None,
    *,
    fresh: bool = False,
    known_sors: dict[str, str] | None = None,
) -> None:
    """Replace the derived rows of `res_pk`; record `author_sor` as a treating organisation.

    `fresh`: the first version of a new resource, so there are no earlier rows to delete.
    `known_sors`: Organization id -> SOR found earlier in the same transaction.
    """
    if not fresh:
        await conn.execute(
            delete(care_relation).where(
                care_relation.c.res_pk == res_pk, care_relation.c.kind != "author"
            )
        )
        await conn.execute(delete(opt_out).where(opt_out.c.res_pk == res_pk))
    if content is None:
        return
    if not patients:
        # In no patient's compartment: visible to the organisation that wrote it.
        if author_sor:
            await _insert_relations(conn, res_pk, {(NO_PATIENT, author_sor, "author")})
        return
    mentions = organization_mentions(content)
    facts = opt_out_facts(content)
    sors = await _sor_by_organization_id(
        conn,
        [m.organization_id for m in mentions if m.organization_id]
        + [f.actor_organization_id for f in facts if f.actor_organization_id],
        {} if known_sors is None else known_sors,
    )
    relations: set[tuple[str, str, str]] = {
        (patient, sor, mention.kind)
        for mention in mentions
        if (sor := _sor(mention, sors))
        for patient in patients
    }
    if author_sor:
        relations |= {(patient, author_sor, "author") for patient in patients}
    await _insert_relations(conn, res_pk, relations)
    # An actor Organization we cannot resolve leaves actor_sor empty, which blocks
    # every organisation: an unreadable opt-out fails closed.
    rows = [
        {
            "res_pk": res_pk,
            "patient_id": patient,
            "actor_sor": fact.actor_sor or sors.get(fact.actor_organization_id or ""),
            "actor_authorization_id": fact.actor_authorization_id,
            "period_start": fact.period_start,
            "period_end": fact.period_end,
            "res_type": fact.res_type,
            "data_ref": fact.data_ref,
        }
        for fact in facts
        for patient in sorted(patients)
    ]
    if rows:
        await conn.execute(opt_out.insert(), rows)


async def _insert_relations(
    conn: AsyncConnection, res_pk: int, relations: set[tuple[str, str, str]]
) -> None:
    pending.defer_statement(
        conn,
        _insert_ignoring_duplicates(conn.dialect.name),
        [
            {"res_pk": res_pk, "patient_id": p, "org_sor": sor, "kind": kind}
            for p, sor, kind in sorted(relations)
        ],
    )


async def write_authorship(
    conn: AsyncConnection, res_pk: int, patients: set[str], author_sor: str
) -> None:
    """`author_sor` now treats these patients (it pushed data about them)."""
    await _insert_relations(conn, res_pk, {(p, author_sor, "author") for p in patients})


def _sor(mention: OrgMention, sors: dict[str, str]) -> str | None:
    return mention.sor or (sors.get(mention.organization_id) if mention.organization_id else None)

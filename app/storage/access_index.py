"""The rows the security predicate reads, rewritten with every version (PRINCIPLES 7).

For the current version of a resource: the treatment relations it records (only when
its author is a relation authority), what it shares with the parties it names (only
when an organisation wrote it), what it leads to (for the hidden-from-custody label),
the opt-outs it states, and the CPR numbers of a Patient (one Patient per CPR).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from app.access.authorities import Authorities
from app.access.opt_out import opt_out_facts
from app.access.policy import HIDDEN_LABEL
from app.access.references import OrgRef
from app.access.sharing import plan_sharing
from app.access.treatment_relation import relation_records
from app.fhir.outcome import FhirError
from app.fhir.profiles.canonical import CPR_SYSTEM, SOR_SYSTEM
from app.storage import pending
from app.storage.access_facts import identifiers_of
from app.storage.tables import opt_out, patient_cpr, plan_link, share, treatment_relation

_DERIVED = (treatment_relation, share, plan_link, opt_out, patient_cpr)


@dataclass(slots=True)
class WriteContext:
    """What every version written in one transaction shares."""

    authorities: Authorities
    # Organization id -> SOR code, as looked up in this transaction (a Bundle's entries
    # name the same few organisations over and over).
    known_sors: dict[str, str]


async def _sors(conn: AsyncConnection, refs: Iterable[OrgRef], ctx: WriteContext) -> set[str]:
    """The SOR codes of these organisation references (local ones looked up once)."""
    refs = list(refs)
    missing = {r.organization_id for r in refs if r.organization_id} - ctx.known_sors.keys()
    if missing:
        ctx.known_sors.update(await identifiers_of(conn, "Organization", missing, SOR_SYSTEM))
    found = {r.sor or ctx.known_sors.get(r.organization_id or "") for r in refs}
    return {sor for sor in found if sor}


def cpr_numbers(content: dict[str, Any]) -> list[str]:
    """The CPR numbers a Patient carries."""
    return sorted(
        {
            str(i["value"])
            for i in content.get("identifier", [])
            if isinstance(i, dict) and i.get("system") == CPR_SYSTEM and i.get("value")
        }
    )


def _labelled_hidden(content: dict[str, Any]) -> bool:
    system, code = HIDDEN_LABEL
    security = (content.get("meta") or {}).get("security", [])
    return any(
        isinstance(s, dict) and s.get("system") == system and s.get("code") == code
        for s in security
    )


async def write_access_rows(
    conn: AsyncConnection,
    res_pk: int,
    resource_id: str,
    content: dict[str, Any] | None,
    patients: set[str],
    author_sor: str | None,
    ctx: WriteContext,
    *,
    fresh: bool = False,
) -> None:
    """Replace the derived rows of `res_pk` with those of `content` (None: deleted).

    `author_sor`: the organisation that created the resource; `fresh`: the first
    version, so there are no earlier rows to delete. New rows are queued (their
    lists hold no duplicates, and a rewrite deletes first), so they go out by COPY.
    """
    if not fresh:
        for table in _DERIVED:
            await conn.execute(delete(table).where(table.c.res_pk == res_pk))
    if content is None:
        return
    rtype = str(content["resourceType"])
    if rtype == "Patient":
        await _claim_cprs(conn, res_pk, cpr_numbers(content))
    if patients and ctx.authorities.records_relations(author_sor):
        assert author_sor is not None
        orgs = await _sors(conn, relation_records(content), ctx)
        pending.defer(
            conn,
            treatment_relation,
            [
                {"res_pk": res_pk, "patient_id": p, "org_sor": o, "recorded_by": author_sor}
                for p in sorted(patients)
                for o in sorted(orgs)
            ],
        )
    sharing = plan_sharing(content)
    if sharing is not None:
        hidden = _labelled_hidden(content)
        pending.defer(
            conn,
            plan_link,
            [
                {"res_pk": res_pk, "target_type": t, "target_id": i, "hidden": hidden}
                for t, i in sharing.led_to
            ],
        )
        if author_sor is not None:
            parties = await _sors(conn, sharing.parties, ctx) - {author_sor}
            targets = [(rtype, resource_id), *sharing.targets]
            pending.defer(
                conn,
                share,
                [
                    {
                        "res_pk": res_pk,
                        "org_sor": party,
                        "author_sor": author_sor,
                        "target_type": t,
                        "target_id": i,
                    }
                    for party in sorted(parties)
                    for t, i in targets
                ],
            )
    await _write_opt_outs(conn, res_pk, content, patients, ctx)


async def _write_opt_outs(
    conn: AsyncConnection,
    res_pk: int,
    content: dict[str, Any],
    patients: set[str],
    ctx: WriteContext,
) -> None:
    facts = opt_out_facts(content)
    if not facts or not patients:
        return
    ids = [f.actor_organization_id for f in facts if f.actor_organization_id]
    await _sors(conn, [OrgRef(organization_id=i) for i in ids], ctx)
    # An actor Organization we cannot resolve leaves actor_sor empty, which blocks
    # every organisation: an unreadable opt-out fails closed.
    rows = [
        {
            "res_pk": res_pk,
            "patient_id": patient,
            "actor_sor": fact.actor_sor or ctx.known_sors.get(fact.actor_organization_id or ""),
            "actor_authorization_id": fact.actor_authorization_id,
            "period_start": fact.period_start,
            "period_end": fact.period_end,
            "res_type": fact.res_type,
            "data_ref": fact.data_ref,
        }
        for fact in facts
        for patient in sorted(patients)
    ]
    await conn.execute(opt_out.insert(), rows)


async def _claim_cprs(conn: AsyncConnection, res_pk: int, cprs: list[str]) -> None:
    """Hold each CPR number for this Patient; 409 when another Patient holds one.

    Immediate, not queued: the unique key is what serialises concurrent creates of the
    same CPR across app nodes, and the conflict must name this write.
    """
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for cpr in cprs:
        claimed = await conn.execute(
            insert(patient_cpr)
            .values(cpr=cpr, res_pk=res_pk)
            .on_conflict_do_nothing()
            .returning(patient_cpr.c.res_pk)
        )
        if claimed.first() is None:
            raise FhirError.of(
                409,
                "duplicate",
                "A Patient with this CPR number is already stored; use a conditional create "
                f"(If-None-Exist: identifier={CPR_SYSTEM}|<CPR>) to get its id",
                "Patient.identifier",
            )

"""The audit log: AuditEvents as rows of their own append-only table (#14 part 2).

Writing an event is one row in `audit_log` and one per entity reference in
`audit_entity`, queued on the connection (pending.py) so they go out with the rest of
the transaction: in the same transaction as the change they audit, or in the access
log's group transaction for reads. No FHIR document is built or indexed: a row is
rendered as its AuditEvent (app.fhir.audit_event) when it is read.

Reads pass the caller's condition from access_sql (`Visibility.audit_condition`), ANDed
into the same statement. An AuditEvent has one version (1), last updated when recorded.
Its rows are handed out with a negative pk, so they never collide with the pks of the
generic resource table wherever both meet (what a request touched, paging keys).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from app.fhir.audit_event import RESOURCE_TYPE, AuditEntry
from app.fhir.search.model import ANY_PATIENT, SearchRequest
from app.storage import pending
from app.storage.audit_rows import content, stored, stored_row
from app.storage.audit_search import (
    AUDIT,
    audit_criteria,
    audit_sort,
    names_entity,
    sort_nullable,
)
from app.storage.records import SecurityPredicate, StoredResource
from app.storage.search_include import fetch_includes
from app.storage.search_predicates import PredicateCompiler
from app.storage.search_rows import StoredRow
from app.storage.search_sql import OtherRows, PageSource, SearchPage, read_page
from app.storage.tables import audit_entity, audit_log

__all__ = [
    "RESOURCE_TYPE",
    "AuditCondition",
    "alongside",
    "compartments",
    "every_event",
    "find",
    "history",
    "search",
    "write",
]

# The condition on the searched audit rows (see access_sql.Visibility.audit_condition).
AuditCondition = Callable[[FromClause], ColumnElement[bool]]


def write(conn: AsyncConnection, entries: Sequence[AuditEntry]) -> list[str]:
    """Queue the rows of `entries` in this transaction; their AuditEvent ids."""
    ids = [str(uuid.uuid4()) for _ in entries]
    rows = []
    entities = []
    for audit_id, e in zip(ids, entries, strict=True):
        rows.append(
            {
                "id": audit_id,
                "recorded": e.recorded,
                "interaction": e.interaction,
                "action": e.action,
                "outcome": e.outcome,
                "rule": e.rule,
                "purpose": e.purpose,
                "override_reason": e.override_reason,
                "agent_type": e.agent_type,
                "internal_job": e.internal_job,
                "org_sor": e.org_sor,
                "org_name": e.org_name,
                "person_cpr": e.person_cpr,
                "person_relation": e.person_relation,
                "person_alt_id": e.person_alt_id,
                "client_id": e.client_id,
                "patient_id": e.patient_id,
                "resources": list(e.resources),
                "request_id": e.request_id,
                "query": e.query,
                "description": e.description,
                "legacy": None,
            }
        )
        for reference in dict.fromkeys(e.entity_references):
            target_type, _, target_id = reference.partition("/")
            entities.append(
                {"audit_id": audit_id, "target_type": target_type, "target_id": target_id}
            )
    pending.defer(conn, audit_log, rows)  # before its entities: they reference it
    pending.defer(conn, audit_entity, entities)
    return ids


async def find(
    conn: AsyncConnection, audit_id: str, condition: AuditCondition | None
) -> StoredResource | None:
    """The AuditEvent `audit_id` if `condition` lets it through (None: unconditionally,
    only to audit a refusal in the patient's MinLog)."""
    a = AUDIT
    query = select(a).where(a.c.id == audit_id)
    if condition is not None:
        query = query.where(condition(a))
    row = (await conn.execute(query)).first()
    return None if row is None else stored(row)


async def contents(conn: AsyncConnection, pks: list[int]) -> list[StoredRow]:
    """The AuditEvents of these audit_log pks, in their order (a search page's rows)."""
    if not pks:
        return []
    a = AUDIT
    rows = (await conn.execute(select(a).where(a.c.pk.in_(pks)))).all()
    found = {row.pk: stored_row(row) for row in rows}
    return [found[pk] for pk in pks if pk in found]


async def history(
    conn: AsyncConnection,
    condition: AuditCondition,
    *,
    audit_id: str | None,
    since: datetime | None,
    at: datetime | None,
    after: tuple[datetime, int, int] | None,
    limit: int,
) -> list[StoredResource]:
    """AuditEvents as history entries (one version each), newest first, then by pk."""
    a = AUDIT
    key = -a.c.pk
    query = select(a).where(condition(a))
    if audit_id is not None:
        query = query.where(a.c.id == audit_id)
    if since is not None:
        query = query.where(a.c.recorded >= since)
    if at is not None:
        query = query.where(a.c.recorded <= at)
    if after is not None:
        stamp, pk, version = after
        query = query.where(
            or_(
                a.c.recorded < stamp,
                and_(a.c.recorded == stamp, key > pk),
                # the one version (1) of the boundary's own event is behind it
                and_(a.c.recorded == stamp, key == pk, literal(version) > 1),
            )
        )
    query = query.order_by(a.c.recorded.desc(), key.asc()).limit(limit)
    return [stored(row) for row in (await conn.execute(query)).all()]


async def compartments(conn: AsyncConnection, pks: Iterable[int]) -> dict[int, set[str]]:
    """The patients of these AuditEvents (negative pks): the Patients their entities name."""
    wanted = sorted({-pk for pk in pks})
    result: dict[int, set[str]] = {}
    e = audit_entity
    for start in range(0, len(wanted), 500):
        rows = await conn.execute(
            select(audit_log.c.pk, e.c.target_id)
            .join(e, e.c.audit_id == audit_log.c.id)
            .where(audit_log.c.pk.in_(wanted[start : start + 500]), e.c.target_type == "Patient")
        )
        for pk, patient in rows.all():
            result.setdefault(-pk, set()).add(patient)
    return result


def _where(request: SearchRequest, condition: AuditCondition) -> ColumnElement[bool]:
    """The caller's condition, the criteria and the compartment over the searched rows."""
    a = AUDIT
    where = and_(condition(a), audit_criteria(a, request.criteria_for(RESOURCE_TYPE)))
    if request.compartment is None:
        return where
    patient = request.compartment
    in_compartment = names_entity(
        a,
        lambda e: and_(
            e.c.target_type == "Patient",
            true() if patient == ANY_PATIENT else e.c.target_id == patient,
        ),
    )
    return and_(where, in_compartment)


async def search(
    conn: AsyncConnection,
    request: SearchRequest,
    condition: AuditCondition,
    *,
    security: SecurityPredicate,
    cursor_key: bytes,
    cursor: str | None,
    max_includes: int,
) -> SearchPage:
    """One page of an AuditEvent search (R4 search.html), keyset-paged like any other;
    what it includes is read under `security` (the same caller's predicate)."""
    a = AUDIT
    source = PageSource(
        pk=a.c.pk,
        last_updated=a.c.recorded,
        keys=[(audit_sort(a, k), k.descending, sort_nullable(k)) for k in request.sort],
        where=_where(request, condition),
        contents=contents,
    )
    page = await read_page(conn, request, source, cursor_key=cursor_key, cursor=cursor)
    if request.summary == "count" or request.count == 0:
        return page
    compiler = PredicateCompiler(security, conn.dialect.name)
    includes, capped = await fetch_includes(
        conn, page.matches, request.includes, request.revincludes, compiler, max_includes
    )
    return replace(page, includes=includes, include_cap_reached=capped)


def alongside(request: SearchRequest, condition: AuditCondition) -> OtherRows:
    """The AuditEvents of a search over several types ($everything, `_type=`)."""
    a = AUDIT
    only_audit = replace(request, includes=(), revincludes=())

    async def by_negative_pk(conn: AsyncConnection, pks: list[int]) -> list[StoredRow]:
        return await contents(conn, [-pk for pk in pks])

    return OtherRows(
        resource_type=RESOURCE_TYPE,
        pk=-a.c.pk,
        last_updated=a.c.recorded,
        sort_expr=lambda key: audit_sort(a, key),
        where=_where(only_audit, condition),
        contents=by_negative_pk,
    )


async def every_event(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every AuditEvent in the log, oldest first, unconditionally: for operators' tools
    and tests that check what was audited, never for a request."""
    rows = (await conn.execute(select(audit_log).order_by(audit_log.c.pk))).all()
    return [content(row) for row in rows]

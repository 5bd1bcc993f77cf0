"""_include and _revinclude (R4 search.html#include), one query per include parameter.

Every included resource passes the same security predicate as the matches, and
the number of included resources is capped; the caller learns when the cap cut.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.fhir.audit_event import RESOURCE_TYPE as AUDIT_EVENT
from app.fhir.search.model import Include
from app.fhir.search.registry import reference_targets, search_params, stored_types
from app.storage.audit_rows import stored_row
from app.storage.audit_search import (
    entity_targets,
    is_audit_log,
    naming_any,
)
from app.storage.search_predicates import INCLUDED, PredicateCompiler
from app.storage.search_rows import StoredRow, select_rows, to_stored
from app.storage.tables import audit_log, search_reference

MAX_ITERATE_ROUNDS = 4
# The AuditEvents a `_revinclude=AuditEvent:...` brings (audit_log.py).
AUDIT_INCLUDED = audit_log.alias("audit_included")


@dataclass
class _Pool:
    cap: int
    rows: list[StoredRow] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    cap_reached: bool = False

    @property
    def remaining(self) -> int:
        return self.cap - len(self.rows)


async def _include(
    conn: AsyncConnection,
    inc: Include,
    sources: list[StoredRow],
    pool: _Pool,
    compiler: PredicateCompiler,
) -> list[StoredRow]:
    pks = [s.pk for s in sources if s.res_type == inc.source_type]
    param = search_params(inc.source_type).get(inc.param)
    if not pks or param is None:
        return []
    ref = search_reference.alias()
    types = [inc.target_type] if inc.target_type else list(reference_targets(param))
    per_type: list[ColumnElement[bool]] = []
    for t in (t for t in types if t in stored_types() and t != AUDIT_EVENT):
        if inc.source_type == AUDIT_EVENT:
            ids = entity_targets(pks, inc.param, t)
            if ids is None:
                continue
        else:
            ids = select(ref.c.target_id).where(
                ref.c.res_pk.in_(pks), ref.c.param == inc.param, ref.c.target_type == t
            )
        per_type.append(compiler.visible(t, INCLUDED) & INCLUDED.c.res_id.in_(ids))
    if not per_type:
        return []
    return await _fetch(conn, select_rows(INCLUDED).where(or_(*per_type)), INCLUDED, pool)


async def _revinclude(
    conn: AsyncConnection,
    inc: Include,
    targets: list[StoredRow],
    pool: _Pool,
    compiler: PredicateCompiler,
) -> list[StoredRow]:
    by_type: dict[str, list[str]] = {}
    for t in targets:
        if inc.target_type in (None, t.res_type):
            by_type.setdefault(t.res_type, []).append(t.res_id)
    param = search_params(inc.source_type).get(inc.param)
    if param is None:
        return []
    allowed = set(reference_targets(param))
    by_type = {t: ids for t, ids in by_type.items() if t in allowed}
    if not by_type:
        return []
    if inc.source_type == AUDIT_EVENT:
        query = select(AUDIT_INCLUDED).where(
            compiler.security(AUDIT_EVENT, AUDIT_INCLUDED),
            naming_any(AUDIT_INCLUDED, inc.param, by_type),
        )
        return await _fetch(conn, query, AUDIT_INCLUDED, pool)
    ref = search_reference.alias()
    pks = select(ref.c.res_pk).where(
        ref.c.res_type == inc.source_type,
        ref.c.param == inc.param,
        or_(*((ref.c.target_type == t) & ref.c.target_id.in_(ids) for t, ids in by_type.items())),
    )
    query = select_rows(INCLUDED).where(
        compiler.visible(inc.source_type, INCLUDED), INCLUDED.c.pk.in_(pks)
    )
    return await _fetch(conn, query, INCLUDED, pool)


async def _fetch(
    conn: AsyncConnection, query: Select[Any], r: FromClause, pool: _Pool
) -> list[StoredRow]:
    if pool.remaining <= 0:
        pool.cap_reached = True
        return []
    audit = is_audit_log(r)  # its rows' pks are negative (audit_log.py)
    key = -r.c.pk if audit else r.c.pk
    if pool.seen:
        query = query.where(key.not_in(pool.seen))
    rows = (await conn.execute(query.order_by(r.c.pk).limit(pool.remaining + 1))).all()
    found = [stored_row(row) if audit else to_stored(row) for row in rows]
    if len(found) > pool.remaining:
        pool.cap_reached = True
        found = found[: pool.remaining]
    pool.rows.extend(found)
    pool.seen.update(s.pk for s in found)
    return found


async def fetch_includes(
    conn: AsyncConnection,
    matches: list[StoredRow],
    includes: Iterable[Include],
    revincludes: Iterable[Include],
    compiler: PredicateCompiler,
    cap: int,
) -> tuple[list[StoredRow], bool]:
    """Included resources of `matches` (deduplicated, capped) and whether the cap cut."""
    pool = _Pool(cap, seen={m.pk for m in matches})
    incs, revs = list(includes), list(revincludes)
    for inc in (i for i in incs if not i.iterate):
        await _include(conn, inc, matches, pool, compiler)
    for inc in (i for i in revs if not i.iterate):
        await _revinclude(conn, inc, matches, pool, compiler)
    frontier = [*matches, *pool.rows]
    for _ in range(MAX_ITERATE_ROUNDS):
        new: list[StoredRow] = []
        for inc in (i for i in incs if i.iterate):
            new += await _include(conn, inc, frontier, pool, compiler)
        for inc in (i for i in revs if i.iterate):
            new += await _revinclude(conn, inc, frontier, pool, compiler)
        if not new or pool.cap_reached:
            break
        frontier = new
    return pool.rows, pool.cap_reached

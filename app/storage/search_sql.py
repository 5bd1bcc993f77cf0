"""Run a parsed FHIR search as SQL: one statement per page, keyset-paged, security-filtered.

The WHERE clause of every statement ANDs the caller's security predicate
(PRINCIPLES 3): matches, totals, pages, chains, `_has`, includes. Paging is by
keyset on (sort values..., pk) with an HMAC-protected cursor, never OFFSET.
See docs/search.md for defaults and the delta-pull watermark contract.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    Subquery,
    and_,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from app.fhir.outcome import bad_request
from app.fhir.search.model import (
    ANY_PATIENT,
    Chain,
    Criterion,
    Filter,
    Has,
    ReferenceValue,
    SearchRequest,
    SortKey,
)
from app.fhir.search.parse import parse_search
from app.storage.access_sql import SCOPE_PATIENT
from app.storage.horizon import read_horizon
from app.storage.records import SecurityPredicate
from app.storage.search_cursor import Cursor, Direction, decode_cursor, encode_cursor
from app.storage.search_include import fetch_includes
from app.storage.search_predicates import MATCH, PredicateCompiler
from app.storage.search_rows import StoredRow, select_rows, to_stored
from app.storage.search_types import SQL_TYPES
from app.storage.tables import compartment, search_reference

_NOT_NULL = frozenset({"_lastUpdated", "_id"})  # columns of resource
TOTAL_CAP = 10_000  # _total=estimate counts exactly up to here, else omits the total

__all__ = [
    "OtherRows",
    "PageSource",
    "SearchPage",
    "SecurityPredicate",
    "StoredRow",
    "find_matches",
    "read_page",
    "run_search",
]


@dataclass(frozen=True, slots=True)
class SearchPage:
    matches: list[StoredRow]
    includes: list[StoredRow]
    total: int | None
    next_cursor: str | None
    prev_cursor: str | None
    include_cap_reached: bool
    # Delta pull (sort=_lastUpdated): rows stamped after it are left for the next pull.
    watermark: datetime | None


def _sort_expr(key: SortKey, r: FromClause) -> ColumnElement[Any]:
    if key.param == "_lastUpdated":
        return r.c.last_updated
    if key.param == "_id":
        return r.c.res_id
    kind = SQL_TYPES[key.type]
    table = kind.table.alias()
    column = table.c[kind.sort_column]
    agg = func.max(column) if key.descending else func.min(column)
    return select(agg).where(table.c.res_pk == r.c.pk, table.c.param == key.param).scalar_subquery()


def _keyset(
    keys: Sequence[tuple[ColumnElement[Any], bool, bool]],
    values: Sequence[Any],
    pk: ColumnElement[int],
    last_pk: int,
    backwards: bool,
) -> ColumnElement[bool]:
    """Rows strictly after (or before) the boundary in ORDER BY (key NULLS LAST..., pk)."""
    condition: ColumnElement[bool] = pk < last_pk if backwards else pk > last_pk
    for (expr, descending, nullable), value in reversed(list(zip(keys, values, strict=True))):
        if value is None:
            beyond = expr.is_not(None) if backwards else false()
            same = expr.is_(None)
        else:
            forward = expr < value if descending else expr > value
            backward = expr > value if descending else expr < value
            if not nullable:
                beyond = backward if backwards else forward
            elif backwards:
                beyond = and_(expr.is_not(None), backward)
            else:
                beyond = or_(expr.is_(None), forward)
            same = expr == value
        condition = or_(beyond, and_(same, condition))
    return condition


def _order(
    keys: Sequence[tuple[ColumnElement[Any], bool, bool]],
    pk: ColumnElement[int],
    backwards: bool,
) -> list[ColumnElement[Any]]:
    order: list[ColumnElement[Any]] = []
    for expr, descending, nullable in keys:
        if nullable:  # missing values last in both directions
            nulls = expr.is_(None)
            order.append(nulls.desc() if backwards else nulls.asc())
        order.append(expr.asc() if descending == backwards else expr.desc())
    order.append(pk.desc() if backwards else pk.asc())
    return order


def _where(
    request: SearchRequest,
    r: FromClause,
    compiler: PredicateCompiler,
    driver: Driver | None = None,
) -> ColumnElement[bool]:
    """The matches' condition; with a `driver`, less what its join already says."""
    scoped = driver is not None and driver.patient is not None
    where = or_(
        *(
            and_(
                compiler.visible(t, r, patient_scoped=scoped),
                compiler.all(
                    t,
                    r,
                    tuple(
                        c
                        for c in request.criteria_for(t)
                        if driver is None or c is not driver.criterion
                    ),
                ),
            )
            for t in request.resource_types
        )
    )
    if request.compartment is None or driver is not None:
        return where
    members = select(compartment.c.res_pk)
    if request.compartment != ANY_PATIENT:
        members = members.where(compartment.c.patient_id == request.compartment)
    return and_(where, r.c.pk.in_(members))


@dataclass(frozen=True, slots=True)
class Driver:
    """The index rows a default-ordered page walks in pk order, stopping after LIMIT matches.

    `rows` selects the matching resources' pks (`pk`) from one index; the page joins them,
    in pk order, to the resource rows and checks each candidate with indexed probes, so it
    reads about LIMIT+1 index entries whatever the patient has and whatever the statistics
    say. It stands for one criterion (`criterion`), or for the compartment (None).
    """

    rows: Select[tuple[int]]
    pk: ColumnElement[int]
    criterion: Criterion | None
    # All matches are this Patient's (their relation and opt-outs are decided once).
    patient: str | None

    def ordered(self, after: int | None, backwards: bool) -> Subquery:
        """The rows past a cursor's pk, in page order. OFFSET 0 keeps PostgreSQL from
        flattening it into the outer query, so it is planned on its own, for all its rows:
        then its equality-prefix index is always cheapest, where the outer query's LIMIT
        would make a walk of another pk-ordered index (ix_search_reference_res, filtering)
        look as good whenever the statistics say the patient holds most rows."""
        rows = self.rows
        if after is not None:
            rows = rows.where(self.pk < after if backwards else self.pk > after)
        order = self.pk.desc() if backwards else self.pk.asc()
        return rows.order_by(order).offset(literal_column("0")).subquery("driver")


def _single_reference(c: Criterion) -> ReferenceValue | None:
    if not isinstance(c, Filter) or c.type != "reference" or c.modifier is not None:
        return None
    if len(c.values) != 1 or not isinstance(c.values[0], ReferenceValue):
        return None
    value = c.values[0]
    return value if value.type and value.id and value.url is None else None


def _driver(request: SearchRequest) -> Driver | None:
    """A driving index for the page, if the order is the default (pk) one and the search
    names one patient's compartment or one typed reference target (`subject=Patient/X`)."""
    if request.sort:
        return None
    if request.compartment is not None and request.compartment != ANY_PATIENT:
        c = compartment.alias("driver_rows")  # one row per (resource, patient)
        rows = select(c.c.res_pk).where(c.c.patient_id == request.compartment)
        return Driver(rows, c.c.res_pk, None, request.compartment)
    if len(request.resource_types) != 1 or request.compartment is not None:
        return None
    (rtype,) = request.resource_types
    for criterion in request.criteria_for(rtype):
        value = _single_reference(criterion)
        if value is None:
            continue
        assert isinstance(criterion, Filter)
        d = search_reference.alias("driver_rows")
        # DISTINCT: a resource may name the same target twice.
        rows = (
            select(d.c.res_pk)
            .where(
                d.c.res_type == rtype,
                d.c.param == criterion.param,
                d.c.target_id == value.id,
                d.c.target_type == value.type,
            )
            .distinct()
        )
        patient = value.id if value.type == "Patient" else None
        return Driver(rows, d.c.res_pk, criterion, patient)
    return None


# What the planner may not do for a driven page (PostgreSQL): with statistics that
# predate a burst of writes it takes a patient's thousand plans for five and would read
# them all, unique them and sort them (linear in the patient's plans); a merge join's
# cost depends on where the patient's rows lie in pk order. Disabled, the only plan left
# without a penalty is the driver's index in pk order, nested-looped into `resource`.
_DRIVEN_PLAN = (
    "enable_sort",
    "enable_hashagg",
    "enable_bitmapscan",
    "enable_mergejoin",
    "enable_hashjoin",
)
# A delta page (sort=_lastUpdated) must walk ix_resource_type_updated in order and stop
# after LIMIT matches; PostgreSQL's estimates for the newest rows (beyond its histogram)
# and for the category filter are far off, and it would otherwise collect every match of
# the category and sort them, which grows with the data.
_DELTA_PLAN = ("enable_sort", "enable_bitmapscan")


async def _planner_off(conn: AsyncConnection, settings: tuple[str, ...]) -> dict[str, str]:
    """Planner methods off for this transaction, in one round trip; returns their values
    before (each read just before it is set), to restore them after the statement."""
    calls = ", ".join(
        f"current_setting('{name}'), set_config('{name}', 'off', true)" for name in settings
    )
    row = (await conn.execute(text(f"SELECT {calls}"))).one()
    return {name: str(row[2 * i]) for i, name in enumerate(settings)}


async def _planner_restored(conn: AsyncConnection, values: dict[str, str]) -> None:
    """The values from before `_planner_off` again, in one round trip (no pg_settings:
    that view builds every setting on each read)."""
    calls = ", ".join(f"set_config('{name}', :v{i}, true)" for i, name in enumerate(values))
    await conn.execute(text(f"SELECT {calls}"), {f"v{i}": v for i, v in enumerate(values.values())})


_EQUALITY_TYPES = frozenset({"token", "reference"})
_EQUALITY_MODIFIERS = frozenset({None, "identifier", "of-type", "not"})


def _equality_only(c: Criterion) -> bool:
    if isinstance(c, Chain):
        return all(_equality_only(inner) for _, inner in c.targets)
    if isinstance(c, Has):
        return _equality_only(c.criterion)
    return c.type in _EQUALITY_TYPES and c.modifier in _EQUALITY_MODIFIERS


def _generic_plan_safe(request: SearchRequest) -> bool:
    """Token and reference equalities, unsorted: a cached generic plan is as good as a
    custom one, and planning the nested security predicate every time cost 1-12 ms
    (more than running it). Dates, prefixes and sorts need the values to plan well."""
    return not request.sort and all(
        _equality_only(c) for t in request.resource_types for c in request.criteria_for(t)
    )


async def _total(
    conn: AsyncConnection,
    request: SearchRequest,
    base: Select[Any],
    bound: dict[str, str],
    *,
    first_page: bool = True,
    rows: int = 0,
    more: bool = True,
) -> int | None:
    """Bundle.total. By default only when it is free: a first page that holds every match
    is its own count. Counting costs as much as reading every match (measured: a delta
    pull's first page spent three times longer counting 10,000 matches than finding its
    100), so a client that wants it asks: `_total=estimate` counts up to TOTAL_CAP,
    `_total=accurate` counts all. `_count=0` is `_summary=count` (R4 search.html#count)."""
    mode = "accurate" if request.summary == "count" or request.count == 0 else request.total
    if mode is None:
        return rows if first_page and not more else None
    if mode == "none":
        return None
    if mode == "accurate":
        return int(
            (
                await conn.execute(select(func.count()).select_from(base.subquery()), bound)
            ).scalar_one()
        )
    capped = base.limit(TOTAL_CAP + 1).subquery()
    count = int((await conn.execute(select(func.count()).select_from(capped), bound)).scalar_one())
    return count if count <= TOTAL_CAP else None


@dataclass(frozen=True, slots=True)
class PageSource:
    """The rows a search pages through: their keyset column, stamp column, sort keys
    ((expression, descending, nullable) per `request.sort` key), condition (security and
    criteria ANDed), and how the content of a page's rows is read."""

    pk: ColumnElement[int]
    last_updated: ColumnElement[datetime]
    keys: Sequence[tuple[ColumnElement[Any], bool, bool]]
    where: ColumnElement[bool]
    contents: Callable[[AsyncConnection, list[int]], Awaitable[list[StoredRow]]]
    # A driving index the page walks in pk order (resource rows only), and the values
    # its scoped predicate needs bound on every statement that carries it.
    driver: Driver | None = None
    bound: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OtherRows:
    """A type kept outside the resource table (AuditEvents: the audit log) when a search
    over several types includes it: its rows' part of the page, keyed by negative pks so
    they never collide with the resource table's."""

    resource_type: str
    pk: ColumnElement[int]
    last_updated: ColumnElement[datetime]
    sort_expr: Callable[[SortKey], ColumnElement[Any]]
    where: ColumnElement[bool]
    contents: Callable[[AsyncConnection, list[int]], Awaitable[list[StoredRow]]]


async def run_search(
    conn: AsyncConnection,
    request: SearchRequest,
    *,
    security: SecurityPredicate,
    cursor_key: bytes,
    cursor: str | None,
    max_includes: int = 1000,
    other: OtherRows | None = None,
) -> SearchPage:
    """One page of `request`, its includes, total and cursors (R4 search.html)."""
    compiler = PredicateCompiler(security, conn.dialect.name)
    r = MATCH
    keys = [(_sort_expr(k, r), k.descending, k.param not in _NOT_NULL) for k in request.sort]
    if other is None:
        driver = _driver(request)
        bound = {SCOPE_PATIENT: driver.patient} if driver and driver.patient else {}
        where = _where(request, r, compiler, driver)
        source = PageSource(r.c.pk, r.c.last_updated, keys, where, _contents, driver, bound)
    else:
        source = _with_other(request, compiler, keys, other)
    page = await read_page(conn, request, source, cursor_key=cursor_key, cursor=cursor)
    if request.summary == "count" or request.count == 0:
        return page
    includes, capped = await fetch_includes(
        conn, page.matches, request.includes, request.revincludes, compiler, max_includes
    )
    return replace(page, includes=includes, include_cap_reached=capped)


def _with_other(
    request: SearchRequest,
    compiler: PredicateCompiler,
    keys: Sequence[tuple[ColumnElement[Any], bool, bool]],
    other: OtherRows,
) -> PageSource:
    """The resource table's matches and `other`'s as one keyset-paged source (UNION ALL)."""
    r = MATCH
    rest = replace(
        request, resource_types=tuple(t for t in request.resource_types if t != other.resource_type)
    )
    mine = select(
        r.c.pk.label("pk"),
        r.c.last_updated.label("lu"),
        *(expr.label(f"k{i}") for i, (expr, _, _) in enumerate(keys)),
    ).where(_where(rest, r, compiler))
    theirs = select(
        other.pk.label("pk"),
        other.last_updated.label("lu"),
        *(other.sort_expr(k).label(f"k{i}") for i, k in enumerate(request.sort)),
    ).where(other.where)
    u = union_all(mine, theirs).subquery("u")

    async def contents(conn: AsyncConnection, pks: list[int]) -> list[StoredRow]:
        found = {
            row.pk: row
            for row in [
                *await _contents(conn, [pk for pk in pks if pk > 0]),
                *await other.contents(conn, [pk for pk in pks if pk < 0]),
            ]
        }
        return [found[pk] for pk in pks if pk in found]

    return PageSource(
        u.c.pk,
        u.c.lu,
        [(u.c[f"k{i}"], descending, nullable) for i, (_, descending, nullable) in enumerate(keys)],
        true(),
        contents,
    )


async def read_page(
    conn: AsyncConnection,
    request: SearchRequest,
    source: PageSource,
    *,
    cursor_key: bytes,
    cursor: str | None,
) -> SearchPage:
    """One page of `source` in `request`'s order, its total and cursors (no includes)."""
    position: Cursor | None = (
        decode_cursor(cursor, cursor_key, request.query_key) if cursor else None
    )
    if conn.dialect.name == "postgresql" and not _generic_plan_safe(request):
        # psycopg prepares repeated statements, and a generic plan cannot see dates, prefixes
        # or LIMIT: measured at 1M rows, the delta pull flipped from ~1 ms to 1.5 s.
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    r = MATCH
    keys = source.keys
    where = source.where
    driver = source.driver
    bound = source.bound
    watermark = None
    by_last_updated = bool(request.sort) and request.sort[0].param == "_lastUpdated"
    if by_last_updated and not request.sort[0].descending:
        # The commit horizon, fixed at the first page (horizon.py): no row stamped at or
        # before it can still commit, so the next pull may continue from it.
        watermark = (
            position.watermark if position and position.watermark else await read_horizon(conn)
        )
        where = and_(where, source.last_updated <= watermark)
    base = select(source.pk).where(where)
    if driver is not None:  # driven pages are over resource rows (MATCH)
        every = driver.rows.subquery("driver")
        base = base.select_from(r.join(every, every.c.res_pk == r.c.pk))
    if request.summary == "count" or request.count == 0:
        total = await _total(conn, request, base, bound)
        return SearchPage([], [], total, None, None, False, watermark)

    backwards = position is not None and position.direction == "prev"
    sort_cols = [expr.label(f"s{i}") for i, (expr, _, _) in enumerate(keys)]
    if position is not None and len(position.values) != len(keys):
        raise bad_request("The paging cursor does not fit this search", "_cursor", "cursor")
    # Two steps: first the page's keys, then their content. Joining the versions into the
    # keyed query made PostgreSQL start from every row of the type (hashing all versions)
    # instead of from the selective criteria, so latency grew with the data.
    pk: ColumnElement[int]
    if driver is not None:
        # Keyed on the driver's pk (equal to r.pk): the cursor is a range on its index.
        page = driver.ordered(position.pk if position else None, backwards)
        pk = page.c.res_pk
        query = select(pk.label("pk")).select_from(r.join(page, pk == r.c.pk)).where(where)
    else:
        pk = source.pk
        query = select(pk.label("pk"), *sort_cols).where(where)
        if position is not None:
            query = query.where(_keyset(keys, position.values, pk, position.pk, backwards))
    # LIMIT inline, so that even a cached plan knows it.
    limit: ColumnElement[int] = literal_column(str(int(request.count) + 1))
    query = query.order_by(*_order(keys, pk, backwards)).limit(limit)
    plan: tuple[str, ...] = ()
    if conn.dialect.name == "postgresql":
        plan = _DRIVEN_PLAN if driver is not None else _DELTA_PLAN if by_last_updated else ()
    before = await _planner_off(conn, plan) if plan else {}
    rows = list((await conn.execute(query, bound)).all())
    if before:
        await _planner_restored(conn, before)
    more = len(rows) > request.count
    rows = rows[: request.count]
    if backwards:
        rows.reverse()
    matches = await source.contents(conn, [row.pk for row in rows])

    def make(row: Any, direction: Direction) -> str:
        values = tuple(getattr(row, f"s{i}") for i in range(len(keys)))
        return encode_cursor(
            Cursor(request.query_key, direction, values, row.pk, watermark), cursor_key
        )

    next_cursor = prev_cursor = None
    if rows and (more if not backwards else True):
        next_cursor = make(rows[-1], "next")
    if rows and position is not None and (more if backwards else True):
        prev_cursor = make(rows[0], "prev")
    total = await _total(
        conn, request, base, bound, first_page=position is None, rows=len(rows), more=more
    )
    return SearchPage(matches, [], total, next_cursor, prev_cursor, False, watermark)


async def _contents(conn: AsyncConnection, pks: list[int]) -> list[StoredRow]:
    """The current version of each resource, in the order of `pks`."""
    if not pks:
        return []
    r = MATCH
    found = {
        row.pk: to_stored(row)
        for row in (await conn.execute(select_rows(r).where(r.c.pk.in_(pks)))).all()
    }
    return [found[pk] for pk in pks if pk in found]


async def find_matches(
    conn: AsyncConnection,
    resource_type: str,
    params: Sequence[tuple[str, str]],
    *,
    security: SecurityPredicate,
    base_url: str,
    limit: int = 2,
) -> list[tuple[int, str]]:
    """(pk, id) of up to `limit` current resources matching a conditional operation's query."""
    request = parse_search([resource_type], params, base_url=base_url, lenient=False)
    if not request.criteria_for(resource_type):
        raise bad_request("A conditional operation needs search criteria", "If-None-Exist")
    compiler = PredicateCompiler(security, conn.dialect.name)
    r = MATCH
    query = (
        select(r.c.pk, r.c.res_id).where(_where(request, r, compiler)).order_by(r.c.pk).limit(limit)
    )
    return [(int(pk), str(res_id)) for pk, res_id in (await conn.execute(query)).all()]

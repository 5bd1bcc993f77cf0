"""Compile parsed search criteria into SQL predicates over the index tables.

One small builder per parameter type in a dispatch table (HAPI's
TokenPredicateBuilder, Medplum's buildTokenSearchFilter; PRINCIPLES 6). Every
predicate is `resource.pk IN (SELECT res_pk FROM search_x WHERE ...)` so the
database drives from the `(res_type, param, value)` indexes; chains and `_has`
join target resources only through the caller's security predicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import ColumnElement, FromClause, Select, and_, false, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement as Col

from app.fhir.instant import now_utc
from app.fhir.search.dates import approximate
from app.fhir.search.definitions import CODE_SYSTEMS
from app.fhir.search.extract import OF_TYPE_SUFFIX
from app.fhir.search.model import (
    Chain,
    Criterion,
    DateValue,
    Filter,
    Has,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
    Value,
)
from app.storage.records import SecurityPredicate
from app.storage.tables import INDEX_TABLES, resource, search_reference

_MAX_CHAR = "\U0010ffff"

# Shared aliases of `resource`: the searched rows, the included rows, and one per chain or
# `_has` nesting level (nested subqueries need distinct names). Sharing them across
# searches lets the caller's security predicate, compiled and cached per table in
# access_sql, be reused instead of rebuilt for every search.
MATCH = resource.alias("r")
INCLUDED = resource.alias("included")
_NESTED = tuple(resource.alias(f"nested_{level}") for level in range(4))


def _nested_below(r: FromClause) -> FromClause:
    """The alias for resources one subquery level below `r`."""
    level = next((i + 1 for i, alias in enumerate(_NESTED) if alias is r), 0)
    return _NESTED[level] if level < len(_NESTED) else resource.alias()


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def starts_with(column: Col[str], prefix: str, dialect: str) -> ColumnElement[bool]:
    """Index-friendly prefix match: LIKE on PostgreSQL (varchar_pattern_ops), a range on SQLite."""
    if dialect == "sqlite":
        return and_(column >= prefix, column < prefix + _MAX_CHAR)
    return column.like(_escape_like(prefix) + "%", escape="\\")


def _token(t: FromClause, v: Value, f: Filter, dialect: str) -> ColumnElement[bool]:
    assert isinstance(v, TokenValue)
    if f.modifier == "text":
        return starts_with(t.c.text, v.code or "", dialect)
    clauses: list[ColumnElement[bool]] = []
    if v.code is not None:
        clauses.append(t.c.code == v.code)
    if v.no_system:
        clauses.append(t.c.system.is_(None))
    elif v.system is not None:
        clauses.append(t.c.system == v.system)
    return and_(true(), *clauses)


def implicit_system(rtype: str, f: Filter) -> Filter:
    """`system|code` on a `code` element: its own system is implied (stored codes carry
    none); any other system matches nothing, so those values are dropped."""
    system = CODE_SYSTEMS.get((rtype, f.param))
    if system is None or f.modifier == "text":
        return f
    values: list[Value] = []
    for v in f.values:
        if isinstance(v, TokenValue) and v.system is not None:
            if v.system != system:
                continue
            v = replace(v, system=None)
        values.append(v)
    return replace(f, values=tuple(values))


def _string(t: FromClause, v: Value, f: Filter, dialect: str) -> ColumnElement[bool]:
    assert isinstance(v, StringValue)
    if f.modifier == "exact":
        return t.c.value_exact == v.exact
    if f.modifier == "contains":
        return t.c.value_norm.like("%" + _escape_like(v.norm) + "%", escape="\\")
    return starts_with(t.c.value_norm, v.norm, dialect)


def date_condition(
    low: Col[datetime], high: Col[datetime], v: DateValue, *, point: bool = False
) -> ColumnElement[bool]:
    """R4 search.html#prefix on ranges: [low, high) of the value vs [v.low, v.high)."""
    sl, sh = v.low, v.high
    if point:  # a single instant column (resource.last_updated)
        t = low
        inside = and_(t >= sl, t < sh)
        if v.prefix == "ap":
            al, ah = approximate(sl, sh, now_utc())
            return and_(t >= al, t < ah)
        return {
            "eq": inside,
            "ne": not_(inside),
            "gt": t >= sh,
            "sa": t >= sh,
            "lt": t < sl,
            "eb": t < sl,
            "ge": t >= sl,
            "le": t < sh,
        }[v.prefix]
    contained = and_(low.is_not(None), high.is_not(None), low >= sl, high <= sh)
    above = or_(high.is_(None), high > sh)
    below = or_(low.is_(None), low < sl)
    if v.prefix == "ap":
        al, ah = approximate(sl, sh, now_utc())
        return and_(or_(low.is_(None), low < ah), or_(high.is_(None), high > al))
    return {
        "eq": contained,
        "ne": not_(contained),
        "gt": above,
        "lt": below,
        "ge": or_(above, contained),
        "le": or_(below, contained),
        "sa": and_(low.is_not(None), low >= sh),
        "eb": and_(high.is_not(None), high <= sl),
    }[v.prefix]


def _date(t: FromClause, v: Value, f: Filter, dialect: str) -> ColumnElement[bool]:
    assert isinstance(v, DateValue)
    return date_condition(t.c.low, t.c.high, v)


def _reference(t: FromClause, v: Value, f: Filter, dialect: str) -> ColumnElement[bool]:
    if isinstance(v, TokenValue):  # :identifier
        clauses = [t.c.ident_value == v.code] if v.code is not None else []
        if v.no_system:
            clauses.append(t.c.ident_system.is_(None))
        elif v.system is not None:
            clauses.append(t.c.ident_system == v.system)
        return and_(*clauses)
    assert isinstance(v, ReferenceValue)
    if v.url is not None:
        return t.c.target_url == v.url
    if v.type is None:
        return t.c.target_id == v.id
    return and_(t.c.target_id == v.id, t.c.target_type == v.type)


def _uri(t: FromClause, v: Value, f: Filter, dialect: str) -> ColumnElement[bool]:
    assert isinstance(v, UriValue)
    if f.modifier == "below":
        return starts_with(t.c.uri, v.uri, dialect)
    return t.c.uri == v.uri


Builder = Callable[[FromClause, Value, Filter, str], ColumnElement[bool]]
BUILDERS: dict[str, Builder] = {
    "token": _token,
    "string": _string,
    "date": _date,
    "reference": _reference,
    "uri": _uri,
}


class PredicateCompiler:
    """Criteria of one resource type → a boolean SQL expression over an aliased `resource`."""

    def __init__(self, security: SecurityPredicate, dialect: str) -> None:
        self.security = security
        self.dialect = dialect

    def visible(self, rtype: str, r: FromClause) -> ColumnElement[bool]:
        """The row is of `rtype`, current, and the principal may see it."""
        return and_(r.c.res_type == rtype, r.c.deleted == false(), self.security(rtype, r))

    def all(
        self, rtype: str, r: FromClause, criteria: tuple[Criterion, ...]
    ) -> ColumnElement[bool]:
        return and_(true(), *(self.criterion(rtype, r, c) for c in criteria))

    def criterion(self, rtype: str, r: FromClause, c: Criterion) -> ColumnElement[bool]:
        if isinstance(c, Chain):
            return self.chain(rtype, r, c)
        if isinstance(c, Has):
            return self.has(rtype, r, c)
        return self.filter(rtype, r, c)

    def filter(self, rtype: str, r: FromClause, f: Filter) -> ColumnElement[bool]:
        if f.param == "_id":
            ids = [v.code for v in f.values if isinstance(v, TokenValue)]
            return r.c.res_id.in_(ids) if f.modifier != "not" else r.c.res_id.not_in(ids)
        if f.param == "_lastUpdated":
            if f.modifier == "missing":
                return false() if f.missing else true()
            values = [v for v in f.values if isinstance(v, DateValue)]
            return or_(
                *(date_condition(r.c.last_updated, r.c.last_updated, v, point=True) for v in values)
            )
        table = INDEX_TABLES[f.type].alias()
        param = f.param + OF_TYPE_SUFFIX if f.modifier == "of-type" else f.param
        rows: Select[tuple[int]] = select(table.c.res_pk).where(
            table.c.res_type == rtype, table.c.param == param
        )
        if f.modifier == "missing":
            return not_(r.c.pk.in_(rows)) if f.missing else r.c.pk.in_(rows)
        if f.type == "token":
            f = implicit_system(rtype, f)
        build = BUILDERS[f.type]
        matching = rows.where(or_(false(), *(build(table, v, f, self.dialect) for v in f.values)))
        if f.modifier == "not":
            return not_(r.c.pk.in_(matching))
        return r.c.pk.in_(matching)

    def chain(self, rtype: str, r: FromClause, c: Chain) -> ColumnElement[bool]:
        ref = search_reference.alias()
        per_target = []
        target = _nested_below(r)
        for target_type, inner in c.targets:
            ids = select(target.c.res_id).where(
                self.visible(target_type, target), self.criterion(target_type, target, inner)
            )
            per_target.append(and_(ref.c.target_type == target_type, ref.c.target_id.in_(ids)))
        pks = select(ref.c.res_pk).where(
            ref.c.res_type == rtype, ref.c.param == c.param, or_(*per_target)
        )
        return r.c.pk.in_(pks)

    def has(self, rtype: str, r: FromClause, c: Has) -> ColumnElement[bool]:
        ref = search_reference.alias()
        source = _nested_below(r)
        target_ids = (
            select(ref.c.target_id)
            .select_from(ref.join(source, source.c.pk == ref.c.res_pk))
            .where(
                ref.c.res_type == c.source_type,
                ref.c.param == c.param,
                ref.c.target_type == rtype,
                self.visible(c.source_type, source),
                self.criterion(c.source_type, source, c.criterion),
            )
        )
        return r.c.res_id.in_(target_ids)

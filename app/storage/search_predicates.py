"""Compile parsed search criteria into SQL predicates over the index tables.

One small builder per parameter type, in its module of app.storage.search_types (HAPI's
TokenPredicateBuilder, Medplum's buildTokenSearchFilter; PRINCIPLES 6). Every
predicate is `resource.pk IN (SELECT res_pk FROM search_x WHERE ...)` so the
database drives from the `(res_type, param, value)` indexes; chains and `_has`
join target resources only through the caller's security predicate.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, FromClause, Select, and_, false, not_, or_, select, true

from app.fhir.audit_event import RESOURCE_TYPE as AUDIT_LOG_TYPE
from app.fhir.outcome import bad_request
from app.fhir.search.model import Chain, Criterion, DateValue, Filter, Has, TokenValue
from app.fhir.search.types import OF_TYPE_SUFFIX
from app.storage.records import SecurityPredicate
from app.storage.search_types import SQL_TYPES, point_condition
from app.storage.tables import resource, search_reference

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


class PredicateCompiler:
    """Criteria of one resource type → a boolean SQL expression over an aliased `resource`."""

    def __init__(self, security: SecurityPredicate, dialect: str) -> None:
        self.security = security
        self.dialect = dialect

    def visible(
        self, rtype: str, r: FromClause, *, patient_scoped: bool = False
    ) -> ColumnElement[bool]:
        """The row is of `rtype`, current, and the principal may see it (`patient_scoped`:
        the statement binds the patient it searches for; records.SecurityPredicate)."""
        security = self.security(rtype, r, patient_scoped=patient_scoped)
        return and_(r.c.res_type == rtype, r.c.deleted == false(), security)

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
            if f.modifier == "missing":
                return false() if f.missing else true()
            ids = [v.code for v in f.values if isinstance(v, TokenValue)]
            return r.c.res_id.in_(ids) if f.modifier != "not" else r.c.res_id.not_in(ids)
        if f.param == "_lastUpdated":
            if f.modifier == "missing":
                return false() if f.missing else true()
            values = [v for v in f.values if isinstance(v, DateValue)]
            return or_(false(), *(point_condition(r.c.last_updated, v) for v in values))
        kind = SQL_TYPES[f.type]
        table = kind.table.alias()
        param = f.param + OF_TYPE_SUFFIX if f.modifier == "of-type" else f.param
        rows: Select[tuple[int]] = select(table.c.res_pk).where(
            table.c.res_type == rtype, table.c.param == param
        )
        if f.modifier == "missing":
            return not_(r.c.pk.in_(rows)) if f.missing else r.c.pk.in_(rows)
        conditions = (kind.condition(table, v, f.modifier, self.dialect) for v in f.values)
        matching = rows.where(or_(false(), *conditions))
        if f.modifier == "not":
            return not_(r.c.pk.in_(matching))
        return r.c.pk.in_(matching)

    def chain(self, rtype: str, r: FromClause, c: Chain) -> ColumnElement[bool]:
        ref = search_reference.alias()
        per_target = []
        target = _nested_below(r)
        for target_type, inner in c.targets:
            if target_type == AUDIT_LOG_TYPE:
                continue  # the audit log's events are no resources a reference can lead to
            ids = select(target.c.res_id).where(
                self.visible(target_type, target), self.criterion(target_type, target, inner)
            )
            per_target.append(and_(ref.c.target_type == target_type, ref.c.target_id.in_(ids)))
        pks = select(ref.c.res_pk).where(
            ref.c.res_type == rtype, ref.c.param == c.param, or_(false(), *per_target)
        )
        return r.c.pk.in_(pks)

    def has(self, rtype: str, r: FromClause, c: Has) -> ColumnElement[bool]:
        if c.source_type == AUDIT_LOG_TYPE:
            raise bad_request(f"'{c.name}': _has of AuditEvents is not supported", c.name)
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

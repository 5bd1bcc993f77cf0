"""Compile the policy's RowFilter into the WHERE condition of every resource query.

This is the one chokepoint (PRINCIPLES.md principle 3): the repository and the
search compiler obtain their security predicate only from here, so reads,
searches, includes, chains, _has, totals, paging and history are all pre-filtered
inside the same SQL statement, and a filtered page is still a full page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    bindparam,
    exists,
    false,
    literal,
    or_,
    select,
    true,
)

from app.access.decision import ParamFilter, RowFilter
from app.access.policy import PATIENT_DATA_TYPES
from app.fhir.instant import now_utc
from app.fhir.profiles.canonical import CPR_SYSTEM
from app.fhir.search.parse import parse_search
from app.storage.records import SecurityPredicate, allow_all
from app.storage.relation_index import NO_PATIENT
from app.storage.search_predicates import PredicateCompiler
from app.storage.tables import (
    care_relation,
    compartment,
    opt_out,
    resource,
    search_token,
)
from app.storage.types import UtcDateTime

FilterFor = Callable[[str], RowFilter]

# Compiled predicates are cached per (RowFilter, type, table), so they must not hold the
# request's clock: the opt-out period is compared with the time the statement executes.
COMPILED_CACHE_SIZE = 1024


def _now_param() -> ColumnElement[object]:
    return bindparam("esp_now", callable_=now_utc, type_=UtcDateTime(), unique=True)


def _in_compartment_of(r: FromClause, patient_ids: object) -> ColumnElement[bool]:
    c = compartment.alias()
    return exists(select(literal(1)).where(c.c.res_pk == r.c.pk, c.c.patient_id.in_(patient_ids)))  # type: ignore[arg-type]


def patient_ids_for_cprs(cprs: tuple[str, ...]) -> object:
    """SELECT the ids of the Patient resources carrying any of these CPR numbers."""
    p = resource.alias()
    t = search_token.alias()
    return (
        select(p.c.res_id)
        .join(t, t.c.res_pk == p.c.pk)
        .where(
            p.c.res_type == "Patient",
            p.c.deleted == false(),
            t.c.res_type == "Patient",
            t.c.param == "identifier",
            t.c.code.in_(cprs),
            t.c.system == CPR_SYSTEM,
        )
        .scalar_subquery()
    )


def _treatment_relation(r: FromClause, org_sor: str) -> ColumnElement[bool]:
    c = compartment.alias()
    cr = care_relation.alias()
    return exists(
        select(literal(1))
        .select_from(c.join(cr, cr.c.patient_id == c.c.patient_id))
        .where(c.c.res_pk == r.c.pk, cr.c.org_sor == org_sor)
    )


def _authored_outside_compartments(r: FromClause, org_sor: str) -> ColumnElement[bool]:
    """A resource in no patient's compartment is visible to the organisation that wrote it."""
    cr = care_relation.alias()
    return exists(
        select(literal(1)).where(
            cr.c.res_pk == r.c.pk, cr.c.patient_id == NO_PATIENT, cr.c.org_sor == org_sor
        )
    )


def _opted_out(r: FromClause, f: RowFilter) -> ColumnElement[bool]:
    c = compartment.alias()
    o = opt_out.alias()
    actor = or_(
        and_(o.c.actor_sor.is_(None), o.c.actor_authorization_id.is_(None)),
        o.c.actor_sor == f.opt_out_org_sor,
        *(
            [o.c.actor_authorization_id == f.opt_out_authorization_id]
            if f.opt_out_authorization_id
            else []
        ),
    )
    return exists(
        select(literal(1))
        .select_from(c.join(o, o.c.patient_id == c.c.patient_id))
        .where(
            c.c.res_pk == r.c.pk,
            actor,
            or_(o.c.period_start.is_(None), o.c.period_start <= _now_param()),
            or_(o.c.period_end.is_(None), o.c.period_end > _now_param()),
            or_(o.c.res_type.is_(None), o.c.res_type == r.c.res_type),
            or_(o.c.data_ref.is_(None), o.c.data_ref == r.c.res_type + literal("/") + r.c.res_id),
        )
    )


def _labelled(r: FromClause, system: str, code: str) -> ColumnElement[bool]:
    t = search_token.alias()
    return exists(
        select(literal(1)).where(
            t.c.res_pk == r.c.pk, t.c.param == "_security", t.c.system == system, t.c.code == code
        )
    )


def _granular(
    resource_type: str, params: ParamFilter, r: FromClause, dialect: str, base_url: str
) -> ColumnElement[bool]:
    """One granular SMART scope's parameters, compiled like a search on the same row."""
    request = parse_search([resource_type], list(params), base_url=base_url)
    compiler = PredicateCompiler(allow_all, dialect)
    return compiler.all(resource_type, r, request.criteria_for(resource_type))


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def compile_row_filter(
    f: RowFilter, resource_type: str, r: FromClause, dialect: str, base_url: str
) -> ColumnElement[bool]:
    """The WHERE condition for rows of `r` (of `resource_type`) that `f` lets through.

    Cached: the same caller reading the same type through the same table (the
    repository's `resource`, the search's shared alias) reuses one immutable clause;
    building it costs more than the query it guards.
    """
    if f.deny_all:
        return false()
    if f.allow_all:
        return true()
    conditions: list[ColumnElement[bool]] = []
    if resource_type in PATIENT_DATA_TYPES:
        who: list[ColumnElement[bool]] = []
        if f.relation_org_sor:
            who.append(_treatment_relation(r, f.relation_org_sor))
            who.append(_authored_outside_compartments(r, f.relation_org_sor))
        if f.extra_patient_ids:
            who.append(_in_compartment_of(r, list(f.extra_patient_ids)))
        if f.patient_cprs:
            who.append(_in_compartment_of(r, patient_ids_for_cprs(f.patient_cprs)))
        conditions.append(or_(*who) if who else false())
        # The opt-out Consent itself stays visible: professionals are told data is
        # blocked, so they can ask for it or make an audited emergency override.
        if f.opt_out_org_sor and resource_type != "Consent":
            conditions.append(~_opted_out(r, f))
    conditions.extend(~_labelled(r, system, code) for system, code in f.excluded_labels)
    if f.granular is not None:
        conditions.append(
            or_(*(_granular(resource_type, p, r, dialect, base_url) for p in f.granular))
        )
    return and_(true(), *conditions)


def security_predicate(filter_for: FilterFor, *, dialect: str, base_url: str) -> SecurityPredicate:
    """The repository's security predicate: each resource type's RowFilter, compiled."""
    cache: dict[str, RowFilter] = {}

    def predicate(resource_type: str, r: FromClause) -> ColumnElement[bool]:
        if resource_type not in cache:
            cache[resource_type] = filter_for(resource_type)
        return compile_row_filter(cache[resource_type], resource_type, r, dialect, base_url)

    return predicate

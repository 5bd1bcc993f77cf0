"""Compile the policy's RowFilter into the WHERE condition of every resource query.

This is the one chokepoint (PRINCIPLES.md principle 3): the repository builds its
`Visibility` from the request's AccessPolicy when it is constructed, and every query
it runs over resources (read, vread, history, search, includes, chains, `_has`,
totals, paging, conditional matches) takes its condition from there, inside the same
SQL statement, so a filtered page is still a full page.

Every subquery correlates everything but its own tables (`correlate_except`): nested two
levels deep (an opt-out inside a share), SQLAlchemy's automatic correlation would put an
outer table into the subquery's FROM instead, a cross join that is true for every row,
i.e. fail open (tests/access/test_fail_closed.py checks the compiled SQL).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from sqlalchemy import (
    ColumnElement,
    FromClause,
    String,
    and_,
    bindparam,
    exists,
    false,
    literal,
    not_,
    or_,
    select,
    true,
)

from app.access.decision import ParamFilter, RowFilter
from app.access.policy import PATIENT_DATA_TYPES, AccessPolicy
from app.fhir.audit_event import RESOURCE_TYPE as AUDIT_EVENT
from app.fhir.instant import now_utc
from app.fhir.outcome import FhirError
from app.fhir.search.parse import parse_search
from app.storage.audit_search import audit_criteria, is_audit_log, names_entity
from app.storage.records import SecurityPredicate
from app.storage.search_predicates import PredicateCompiler
from app.storage.tables import (
    compartment,
    opt_out,
    patient_cpr,
    plan_link,
    resource,
    search_reference,
    search_token,
    share,
    subscription_state,
    treatment_relation,
)
from app.storage.types import UtcDateTime

# Compiled predicates are cached per (RowFilter, type, table), so they must not hold the
# request's clock: the opt-out period is compared with the time the statement executes.
COMPILED_CACHE_SIZE = 1024


def _now_param() -> ColumnElement[object]:
    return bindparam("esp_now", callable_=now_utc, type_=UtcDateTime(), unique=True)


# A patient-scoped search (`subject=Patient/X`, `Patient/X/CarePlan`, `$everything`) binds
# the patient under this name when it executes: the predicate then decides that
# patient's relation and opt-outs once per statement (uncorrelated subqueries, planned
# as InitPlans), not once per row. Exact whatever the value: a row's other patients are
# still checked row by row, so a wrong or missing patient only costs speed, never
# access (and an unbound one is an error, not an empty condition).
SCOPE_PATIENT = "esp_scope_patient"


def _scope_patient() -> ColumnElement[str]:
    return bindparam(SCOPE_PATIENT, type_=String(), required=True)


def _in_compartment_of(r: FromClause, patient_ids: object) -> ColumnElement[bool]:
    c = compartment.alias()
    return exists(
        select(literal(1))
        .where(c.c.res_pk == r.c.pk, c.c.patient_id.in_(patient_ids))  # type: ignore[arg-type]
        .correlate_except(c)
    )


def patient_ids_for_cprs(cprs: tuple[str, ...]) -> object:
    """SELECT the ids of the Patients holding these CPR numbers (one Patient per CPR)."""
    p = resource.alias()
    pc = patient_cpr.alias()
    return (
        select(p.c.res_id)
        .join(pc, pc.c.res_pk == p.c.pk)
        .where(pc.c.cpr.in_(cprs), p.c.deleted == false())
        .scalar_subquery()
    )


def _related(
    r: FromClause,
    org: ColumnElement[str] | str,
    authorities: tuple[str, ...],
    *,
    scoped: bool = False,
) -> ColumnElement[bool]:
    """`org` has a treatment relation, recorded by an authority, to a patient of the row.

    `scoped` (`org` is the caller's own): the relation to the searched patient is decided
    once, and only the row's other patients (if any) are looked up per row."""
    if not authorities:
        return false()
    c = compartment.alias()
    tr = treatment_relation.alias()
    others = [c.c.patient_id != _scope_patient()] if scoped else []
    per_row = exists(
        select(literal(1))
        .select_from(c.join(tr, tr.c.patient_id == c.c.patient_id))
        .where(
            c.c.res_pk == r.c.pk,
            tr.c.org_sor == org,
            tr.c.recorded_by.in_(authorities),
            *others,
        )
        .correlate_except(c, tr)
    )
    if not scoped:
        return per_row
    once = treatment_relation.alias()
    related_to_patient = exists(
        select(literal(1))
        .where(
            once.c.org_sor == org,
            once.c.patient_id == _scope_patient(),
            once.c.recorded_by.in_(authorities),
        )
        .correlate_except(once)
    )
    member = compartment.alias()
    in_patients_compartment = exists(
        select(literal(1))
        .where(member.c.res_pk == r.c.pk, member.c.patient_id == _scope_patient())
        .correlate_except(member)
    )
    return or_(and_(related_to_patient, in_patients_compartment), per_row)


def _blocks(
    o: FromClause, org: ColumnElement[str] | str, authorization_id: str | None
) -> list[ColumnElement[bool]]:
    """The opt-out row `o` is active now and blocks `org` (or this professional)."""
    return [
        or_(
            and_(o.c.actor_sor.is_(None), o.c.actor_authorization_id.is_(None)),
            o.c.actor_sor == org,
            *([o.c.actor_authorization_id == authorization_id] if authorization_id else []),
        ),
        or_(o.c.period_start.is_(None), o.c.period_start <= _now_param()),
        or_(o.c.period_end.is_(None), o.c.period_end > _now_param()),
    ]


def _opted_out(
    r: FromClause,
    org: ColumnElement[str] | str,
    authorization_id: str | None,
    *,
    scoped: bool = False,
) -> ColumnElement[bool]:
    """An active opt-out of a patient of the row blocks `org` (or this professional).

    `scoped`: whether the searched patient has any opt-out that blocks `org` now is
    decided once; only if so are that patient's opt-outs matched against each row (by
    type and data), and the row's other patients are looked up per row as always."""
    c = compartment.alias()
    o = opt_out.alias()
    guard: list[ColumnElement[bool]] = []
    if scoped:
        once = opt_out.alias()
        patient_blocks = exists(
            select(literal(1))
            .where(once.c.patient_id == _scope_patient(), *_blocks(once, org, authorization_id))
            .correlate_except(once)
        )
        guard.append(or_(c.c.patient_id != _scope_patient(), patient_blocks))
    return exists(
        select(literal(1))
        .select_from(c.join(o, o.c.patient_id == c.c.patient_id))
        .where(
            c.c.res_pk == r.c.pk,
            *guard,
            *_blocks(o, org, authorization_id),
            or_(o.c.res_type.is_(None), o.c.res_type == r.c.res_type),
            or_(o.c.data_ref.is_(None), o.c.data_ref == r.c.res_type + literal("/") + r.c.res_id),
        )
        .correlate_except(c, o)
    )


def _shared_with(r: FromClause, f: RowFilter) -> ColumnElement[bool]:
    """A plan names the organisation as a party and leads to the row, and the plan's
    author may see the row itself: it wrote it, or it has a treatment relation to the
    patient that the patient has not opted out of (source (b): never more than the author)."""
    s = share.alias()
    author_sees = or_(
        r.c.author_sor == s.c.author_sor,
        and_(
            _related(r, s.c.author_sor, f.relation_authorities),
            not_(_opted_out(r, s.c.author_sor, None)),
        ),
    )
    return exists(
        select(literal(1))
        .where(
            s.c.org_sor == f.org_sor,
            s.c.target_type == r.c.res_type,
            s.c.target_id == r.c.res_id,
            author_sees,
        )
        .correlate_except(s)
    )


def _names_as_actor(r: FromClause, org: str) -> ColumnElement[bool]:
    """An opt-out Consent is visible to the organisations it blocks (they learn why)."""
    o = opt_out.alias()
    return exists(
        select(literal(1)).where(o.c.res_pk == r.c.pk, o.c.actor_sor == org).correlate_except(o)
    )


def _owned(r: FromClause, owner: str) -> ColumnElement[bool]:
    """A Subscription of this owner (its state row records who created it)."""
    s = subscription_state.alias()
    return exists(
        select(literal(1)).where(s.c.res_pk == r.c.pk, s.c.owner == owner).correlate_except(s)
    )


def _labelled(r: FromClause, system: str, code: str) -> ColumnElement[bool]:
    t = search_token.alias()
    return exists(
        select(literal(1))
        .where(
            t.c.res_pk == r.c.pk, t.c.param == "_security", t.c.system == system, t.c.code == code
        )
        .correlate_except(t)
    )


def _hidden_target(
    ref: FromClause, label: tuple[str, str], *, through_provenance: bool = True
) -> ColumnElement[bool]:
    """The resource a reference row (`ref`) points to is labelled, or only labelled plans
    lead to it, or it is the Provenance of such a resource (it would name it)."""
    h = resource.alias()
    labelled = exists(
        select(literal(1))
        .where(
            h.c.res_type == ref.c.target_type,
            h.c.res_id == ref.c.target_id,
            _labelled(h, *label),
        )
        .correlate_except(h)
    )
    hidden = [labelled, _only_labelled_lead_to(ref.c.target_type, ref.c.target_id)]
    if through_provenance:
        p = resource.alias()
        target = search_reference.alias()
        hidden.append(
            exists(
                select(literal(1))
                .select_from(p.join(target, target.c.res_pk == p.c.pk))
                .where(
                    ref.c.target_type == "Provenance",
                    p.c.res_type == "Provenance",
                    p.c.res_id == ref.c.target_id,
                    target.c.param == "target",
                    _hidden_target(target, label, through_provenance=False),
                )
                .correlate_except(p, target)
            )
        )
    return or_(*hidden)


def _only_labelled_lead_to(
    target_type: ColumnElement[str], target_id: ColumnElement[str]
) -> ColumnElement[bool]:
    """Labelled plans lead to the resource and no unlabelled plan does (§37 stk. 2)."""
    hidden, shown = plan_link.alias(), plan_link.alias()
    return and_(
        exists(
            select(literal(1))
            .where(
                hidden.c.target_type == target_type,
                hidden.c.target_id == target_id,
                hidden.c.hidden == true(),
            )
            .correlate_except(hidden)
        ),
        ~exists(
            select(literal(1))
            .where(
                shown.c.target_type == target_type,
                shown.c.target_id == target_id,
                shown.c.hidden == false(),
            )
            .correlate_except(shown)
        ),
    )


def _target_visible(
    r: FromClause, targets: tuple[tuple[str, RowFilter], ...], dialect: str, base_url: str
) -> ColumnElement[bool]:
    """A Provenance's target, as it is now (a label added later counts), passes the
    filter of its type: the Provenance is read under exactly its target's rules."""
    if not targets:
        return false()
    ref = search_reference.alias()
    t = resource.alias()
    per_type = [
        and_(t.c.res_type == name, compile_row_filter(f, name, t, dialect, base_url))
        for name, f in targets
    ]
    return exists(
        select(literal(1))
        .select_from(
            ref.join(t, and_(t.c.res_type == ref.c.target_type, t.c.res_id == ref.c.target_id))
        )
        .where(ref.c.res_pk == r.c.pk, ref.c.param == "target", or_(*per_type))
        .correlate_except(ref, t)
    )


def _no_nested_reads(
    _resource_type: str, _table: FromClause, *, patient_scoped: bool = False
) -> ColumnElement[bool]:
    """Granular scope parameters cannot chain; should one ever try, it reads nothing."""
    return false()


def _granular(
    resource_type: str, params: ParamFilter, r: FromClause, dialect: str, base_url: str
) -> ColumnElement[bool]:
    """One granular SMART scope's parameters, compiled like a search on the same row.

    A parameter the type does not have (`patient/*.rs?status=active` on AuditEvent)
    matches nothing: a scope can only narrow (docs/authorization.md, "Scopes").
    """
    try:
        request = parse_search([resource_type], list(params), base_url=base_url)
    except FhirError:
        return false()
    compiler = PredicateCompiler(_no_nested_reads, dialect)
    return compiler.all(resource_type, r, request.criteria_for(resource_type))


def granular_condition(
    f: RowFilter, resource_type: str, r: FromClause, dialect: str, base_url: str
) -> ColumnElement[bool]:
    """Only the granular-scope part of `f` (what a written resource must still match)."""
    if f.deny_all:
        return false()
    if f.granular is None:
        return true()
    return or_(*(_granular(resource_type, p, r, dialect, base_url) for p in f.granular))


def _organisation_sees(
    r: FromClause, resource_type: str, f: RowFilter, scoped: bool
) -> ColumnElement[bool]:
    assert f.org_sor is not None
    who = [
        r.c.author_sor == f.org_sor,
        _shared_with(r, f),
        _related(r, f.org_sor, f.relation_authorities, scoped=scoped),
    ]
    if f.extra_patient_ids:
        who.append(_in_compartment_of(r, list(f.extra_patient_ids)))
    if resource_type == "Consent":
        who.append(_names_as_actor(r, f.org_sor))
    return or_(*who)


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def compile_row_filter(
    f: RowFilter,
    resource_type: str,
    r: FromClause,
    dialect: str,
    base_url: str,
    *,
    patient_scoped: bool = False,
) -> ColumnElement[bool]:
    """The WHERE condition for rows of `r` (of `resource_type`) that `f` lets through.

    Cached: the same caller reading the same type through the same table (the
    repository's `resource`, the search's shared alias) reuses one immutable clause;
    building it costs more than the query it guards. `patient_scoped`: the statement
    binds SCOPE_PATIENT, and the same rows pass, with that patient's relation and
    opt-outs decided once per statement.
    """
    if f.deny_all:
        return false()
    if f.allow_all:
        return true()
    conditions: list[ColumnElement[bool]] = []
    if f.owner_key is not None:
        conditions.append(_owned(r, f.owner_key))
    elif f.targets is not None:
        conditions.append(_target_visible(r, f.targets, dialect, base_url))
    elif resource_type in PATIENT_DATA_TYPES:
        if f.org_sor is not None:
            conditions.append(_organisation_sees(r, resource_type, f, patient_scoped))
        elif f.patient_cprs:
            conditions.append(_in_compartment_of(r, patient_ids_for_cprs(f.patient_cprs)))
        else:
            conditions.append(false())
        # The opt-out Consent itself stays visible: professionals are told data is
        # blocked, so they can ask for it or make an audited emergency override.
        if f.opt_out_org_sor and resource_type != "Consent":
            conditions.append(
                ~_opted_out(r, f.opt_out_org_sor, f.opt_out_authorization_id, scoped=patient_scoped)
            )
    for label in f.excluded_labels:
        conditions.append(~_labelled(r, *label))
        if f.hide_what_labels_lead_to:
            conditions.append(~_only_labelled_lead_to(r.c.res_type, r.c.res_id))
    if f.granular is not None:
        conditions.append(granular_condition(f, resource_type, r, dialect, base_url))
    return and_(true(), *conditions)


class Visibility:
    """The security predicate of one request, fixed from its policy when built.

    `predicate(interaction)` gives the condition for an interaction's scope letter
    (a search entry of a transaction is checked as a search, a read as a read).
    """

    def __init__(self, policy: AccessPolicy, *, dialect: str, base_url: str) -> None:
        self._policy = policy
        self._dialect = dialect
        self._base_url = base_url
        self._filters: dict[tuple[str, str], RowFilter] = {}

    def row_filter(self, resource_type: str, interaction: str) -> RowFilter:
        key = (resource_type, interaction)
        if key not in self._filters:
            self._filters[key] = self._policy.read_filter(resource_type, interaction)
        return self._filters[key]

    def predicate(self, interaction: str) -> SecurityPredicate:
        def condition(
            resource_type: str, r: FromClause, *, patient_scoped: bool = False
        ) -> ColumnElement[bool]:
            f = self.row_filter(resource_type, interaction)
            if is_audit_log(r):  # AuditEvents included in a search (search_include.py)
                return compile_audit_filter(f, r, self._dialect, self._base_url)
            return compile_row_filter(
                f, resource_type, r, self._dialect, self._base_url, patient_scoped=patient_scoped
            )

        return condition

    def audit_condition(self, interaction: str, a: FromClause) -> ColumnElement[bool]:
        """The condition on rows `a` of the audit log (AuditEvents) for `interaction`."""
        f = self.row_filter(AUDIT_EVENT, interaction)
        return compile_audit_filter(f, a, self._dialect, self._base_url)


# -- the audit log (AuditEvents live in their own table, audit_log) -----------------------


def _audit_granular(params: ParamFilter, a: FromClause, base_url: str) -> ColumnElement[bool]:
    """A granular scope's parameters on audit rows; one the log cannot answer matches nothing."""
    try:
        request = parse_search([AUDIT_EVENT], list(params), base_url=base_url)
        return audit_criteria(a, request.criteria_for(AUDIT_EVENT))
    except FhirError:
        return false()


def _names_hidden(label: tuple[str, str]) -> Callable[[FromClause], ColumnElement[bool]]:
    """An entity of the event is hidden by `label` (the event would name the hidden plan)."""
    return lambda e: _hidden_target(e, label)


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def compile_audit_filter(
    f: RowFilter, a: FromClause, dialect: str, base_url: str
) -> ColumnElement[bool]:
    """The WHERE condition for audit rows `a` that `f` lets through.

    The same rules as `compile_row_filter` gives an AuditEvent, over the log's columns:
    an event is in the compartment of the patients its entities name; only citizens (for
    themselves or a child in their custody) read it, so any other filter but the
    internal one's reads nothing; and "hidden means hidden": for a custody holder an
    event naming a resource that is labelled, or only labelled plans lead to, is hidden.
    """
    if f.deny_all:
        return false()
    if f.allow_all:
        return true()
    if not f.patient_cprs or f.org_sor is not None or f.targets is not None or f.owner_key:
        return false()  # fail closed: the policy gives nobody else audit rows
    patient_ids = patient_ids_for_cprs(f.patient_cprs)
    conditions: list[ColumnElement[bool]] = [
        names_entity(
            a,
            lambda e: and_(
                e.c.target_type == "Patient",
                e.c.target_id.in_(patient_ids),  # type: ignore[arg-type]
            ),
        )
    ]
    for label in f.excluded_labels:  # AuditEvents carry no labels themselves
        if f.hide_what_labels_lead_to:
            conditions.append(~_only_labelled_lead_to(literal(AUDIT_EVENT), a.c.id))
            conditions.append(~names_entity(a, _names_hidden(label)))
    if f.granular is not None:
        conditions.append(or_(*(_audit_granular(p, a, base_url) for p in f.granular)))
    return and_(true(), *conditions)

"""AuditEvent search criteria as SQL over the audit log's own columns (#14 part 2).

AuditEvents are rows of `audit_log` (tables.py), not generic resources with index rows:
each supported parameter is a condition on the columns the rendered AuditEvent takes
that element from (app.fhir.audit_event), so it matches exactly what the same search
over the rendered resource matches. What the log cannot answer (chains, `_has`, the
parameters of elements the server never writes) is a 400, never a silent wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    String,
    and_,
    exists,
    false,
    literal,
    not_,
    or_,
    select,
    true,
)

from app.fhir.audit_event import (
    AUDIT_TYPE,
    ENTITY_TYPE,
    OBJECT_ROLE,
    OVERRIDE_TAG,
    RELATIONSHIP_SYSTEM,
    RESTFUL_INTERACTION,
    RULE_BASE,
)
from app.fhir.outcome import FhirError, bad_request
from app.fhir.profiles.canonical import CPR_SYSTEM, SOR_SYSTEM
from app.fhir.search.model import Criterion, DateValue, Filter, SortKey, TokenValue
from app.fhir.search.normalise import normalise
from app.fhir.search.types.reference import ReferenceValue
from app.fhir.search.types.uri import UriValue
from app.storage.search_types import point_condition
from app.storage.search_types.token import code_condition
from app.storage.tables import audit_entity, audit_log

# The searched rows (shared, so the caller's compiled security predicate is reused).
AUDIT = audit_log.alias("a")


def is_audit_log(table: FromClause) -> bool:
    """`table` is (an alias of) the audit log, not of the resource table."""
    return table is audit_log or getattr(table, "original", None) is audit_log


def names_entity(
    a: FromClause, condition: Callable[[FromClause], ColumnElement[bool]]
) -> ColumnElement[bool]:
    """One of the row's entities (its patient's included) satisfies `condition`."""
    e = audit_entity.alias()
    return exists(
        select(literal(1)).where(e.c.audit_id == a.c.id, condition(e)).correlate_except(e)
    )


def _reference(value: object, patients_only: bool) -> Callable[[FromClause], ColumnElement[bool]]:
    def condition(e: FromClause) -> ColumnElement[bool]:
        if not isinstance(value, ReferenceValue) or value.id is None:
            return false()  # entities have no identifier and no foreign url
        if patients_only and value.type not in (None, "Patient"):
            return false()
        kind = "Patient" if patients_only else value.type
        same_id = e.c.target_id == value.id
        return same_id if kind is None else and_(same_id, e.c.target_type == kind)

    return condition


def _any_entity(patients_only: bool) -> Callable[[FromClause], ColumnElement[bool]]:
    return lambda e: e.c.target_type == "Patient" if patients_only else true()


# One token a row may carry: (system, code, display, when the row carries it).
Alternative = tuple[str | None, ColumnElement[str | None], str | None, ColumnElement[bool]]


def _tokens(alternatives: Sequence[Alternative]) -> Callable[[Filter], ColumnElement[bool]]:
    """A token parameter over the tokens a row carries (R4 search.html#token)."""

    def condition(f: Filter) -> ColumnElement[bool]:
        present = or_(false(), *(when for *_, when in alternatives))
        if f.modifier == "missing":
            return not_(present) if f.missing else present
        values = [v for v in f.values if isinstance(v, TokenValue)]
        hits: list[ColumnElement[bool]] = []
        for system, code, display, when in alternatives:
            for v in values:
                if f.modifier == "text":  # displays are constants: decided here
                    text = normalise(display) if display else None
                    if text is not None and text.startswith(v.code or ""):
                        hits.append(when)
                elif f.modifier in (None, "not"):
                    hits.append(and_(when, code_condition(literal(system, String()), code, v)))
                else:
                    raise _unsupported(f)
        matching = or_(false(), *hits)
        return not_(matching) if f.modifier == "not" else matching

    return condition


def _const(code: str) -> ColumnElement[str | None]:
    return literal(code, String())


def _unsupported(f: Filter | Criterion) -> FhirError:
    name = getattr(f, "name", "?")
    return bad_request(f"'{name}' is not supported on AuditEvent (the audit log's own table)", name)


def _filter(a: FromClause, f: Filter) -> ColumnElement[bool]:
    if f.param == "_id":
        if f.modifier == "missing":
            return false() if f.missing else true()
        ids = [v.code for v in f.values if isinstance(v, TokenValue)]
        return a.c.id.in_(ids) if f.modifier != "not" else a.c.id.not_in(ids)
    if f.param in ("_lastUpdated", "date"):  # meta.lastUpdated is `recorded`
        if f.modifier == "missing":
            return false() if f.missing else true()
        if f.modifier is not None:
            raise _unsupported(f)
        dates = [v for v in f.values if isinstance(v, DateValue)]
        return or_(false(), *(point_condition(a.c.recorded, v) for v in dates))
    if f.param in ("patient", "entity"):
        patients_only = f.param == "patient"
        if f.modifier == "missing":
            named = names_entity(a, _any_entity(patients_only))
            return not_(named) if f.missing else named
        if f.modifier == "identifier":
            return false()  # the server names entities by reference only
        # A type modifier (`entity:CarePlan=x`) is already the values' type.
        return or_(false(), *(names_entity(a, _reference(v, patients_only)) for v in f.values))
    if f.param == "agent":
        # Organisations by SOR code and persons by CPR number, as identifiers only.
        named = or_(a.c.org_sor.is_not(None), a.c.person_cpr.is_not(None))
        if f.modifier == "missing":
            return not_(named) if f.missing else named
        if f.modifier != "identifier":
            return false()  # identifier-only references: no id or url to match
        values = [v for v in f.values if isinstance(v, TokenValue)]
        return or_(
            false(),
            *(
                or_(
                    and_(
                        a.c.org_sor.is_not(None),
                        code_condition(literal(SOR_SYSTEM, String()), a.c.org_sor, v),
                    ),
                    and_(
                        a.c.person_cpr.is_not(None),
                        code_condition(literal(CPR_SYSTEM, String()), a.c.person_cpr, v),
                    ),
                )
                for v in values
            ),
        )
    if f.param == "policy":
        # Every agent but the client's names the rule; a row without one has no policy.
        has_policy = or_(
            a.c.agent_type == "internal", a.c.org_sor.is_not(None), a.c.person_cpr.is_not(None)
        )
        if f.modifier == "missing":
            return not_(has_policy) if f.missing else has_policy
        if f.modifier is not None:
            raise _unsupported(f)
        rules = [
            v.uri[len(RULE_BASE) :]
            for v in f.values
            if isinstance(v, UriValue) and v.uri.startswith(RULE_BASE)
        ]
        return and_(has_policy, a.c.rule.in_(rules))
    tokens = _token_params(a)
    if f.param in _NEVER_WRITTEN:
        return _never(f)
    if f.param in tokens:
        return _tokens(tokens[f.param])(f)
    raise _unsupported(f)


# Parameters of elements the server never writes in an AuditEvent (and meta.profile,
# meta.security, meta.source): no row has them.
_NEVER_WRITTEN = frozenset(
    {"_profile", "_security", "_source", "address", "agent-name", "entity-name", "site", "source"}
)


def _never(f: Filter) -> ColumnElement[bool]:
    if f.modifier == "missing":
        return true() if f.missing else false()
    return true() if f.modifier == "not" else false()


def _token_params(a: FromClause) -> dict[str, list[Alternative]]:
    """The tokens of each token parameter, as `render_audit_event` writes them."""
    person = and_(a.c.agent_type != "internal", a.c.person_cpr.is_not(None))
    patient = a.c.patient_id.is_not(None)
    query = a.c.query.is_not(None)
    # An entity besides the patient's: a resource other than the patient itself.
    domain = names_entity(
        a,
        lambda e: or_(
            a.c.patient_id.is_(None), e.c.target_type != "Patient", e.c.target_id != a.c.patient_id
        ),
    )
    always = true()
    return {
        # `code` elements: stored without a system (R4 search.html#token, token.py).
        "action": [(None, a.c.action, None, always)],
        "outcome": [(None, a.c.outcome, None, always)],
        "subtype": [(RESTFUL_INTERACTION, a.c.interaction, None, always)],
        "type": [(AUDIT_TYPE, _const("rest"), "RESTful Operation", always)],
        "altid": [(None, a.c.person_alt_id, None, and_(person, a.c.person_alt_id.is_not(None)))],
        "agent-role": [
            (
                RELATIONSHIP_SYSTEM,
                _const("PARAUTH"),
                "Forældremyndighedsindehaver",
                # NOT NULL first, so that :not (NOT ...) is never NULL
                and_(person, a.c.person_relation.is_not(None), a.c.person_relation == "custody"),
            )
        ],
        "entity-type": [
            (ENTITY_TYPE, _const("1"), "Person", patient),
            (ENTITY_TYPE, _const("2"), "System Object", or_(domain, query)),
        ],
        "entity-role": [
            (OBJECT_ROLE, _const("1"), "Patient", patient),
            (OBJECT_ROLE, _const("4"), "Domain Resource", domain),
            (OBJECT_ROLE, _const("24"), "Query", query),
        ],
        "_tag": [
            (
                OVERRIDE_TAG["system"],
                _const(OVERRIDE_TAG["code"]),
                OVERRIDE_TAG["display"],
                a.c.override_reason.is_not(None),
            )
        ],
    }


def audit_criteria(a: FromClause, criteria: tuple[Criterion, ...]) -> ColumnElement[bool]:
    """The criteria ANDed over audit rows `a`; 400 for what the log cannot answer."""
    conditions = []
    for c in criteria:
        if not isinstance(c, Filter):
            raise _unsupported(c)
        conditions.append(_filter(a, c))
    return and_(true(), *conditions)


# Sort keys (R4 search.html#sort): the column of each single-valued parameter, and
# whether a row may lack it (it then sorts last, as in the generic search).
_SORTS = {
    "_lastUpdated": ("recorded", False),
    "date": ("recorded", False),
    "_id": ("id", False),
    "action": ("action", False),
    "outcome": ("outcome", False),
    "subtype": ("interaction", False),
    "altid": ("person_alt_id", True),
}


def audit_sort(a: FromClause, key: SortKey) -> ColumnElement[object]:
    if key.param not in _SORTS:
        raise bad_request(f"Sorting AuditEvents by '{key.param}' is not supported", "_sort")
    return a.c[_SORTS[key.param][0]]


def sort_nullable(key: SortKey) -> bool:
    return key.param in _SORTS and _SORTS[key.param][1]


def entity_targets(pks: list[int], param: str, target_type: str) -> Select[tuple[str]] | None:
    """SELECT the ids of `target_type` that `param` names in the AuditEvents of these
    (negative) pks, for `_include=AuditEvent:param`; None if it names none."""
    if param not in ("entity", "patient") or (param == "patient" and target_type != "Patient"):
        return None  # `agent` and `source` name no resource by reference
    e = audit_entity.alias()
    return (
        select(e.c.target_id)
        .select_from(e.join(audit_log, audit_log.c.id == e.c.audit_id))
        .where(audit_log.c.pk.in_([-pk for pk in pks]), e.c.target_type == target_type)
    )


def naming_any(a: FromClause, param: str, by_type: dict[str, list[str]]) -> ColumnElement[bool]:
    """Rows `a` whose `param` (`entity`, `patient`) names one of these resources."""
    if param not in ("entity", "patient"):
        return false()
    wanted = {t: ids for t, ids in by_type.items() if param == "entity" or t == "Patient"}

    def names(e: FromClause) -> ColumnElement[bool]:
        return or_(
            false(),
            *(and_(e.c.target_type == t, e.c.target_id.in_(ids)) for t, ids in wanted.items()),
        )

    return names_entity(a, names)

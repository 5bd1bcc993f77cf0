"""AuditEvent search criteria as SQL over the audit log's own columns (#14 part 2).

AuditEvents are rows of `audit_log` (tables.py), not generic resources with index rows:
each supported parameter is a condition on the columns the rendered AuditEvent takes
that element from (app.fhir.audit_event), so it matches exactly what the same search
over the rendered resource matches. What the log cannot answer (chains, `_has`, the
parameters of elements the server never writes) is a 400, never a silent wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    exists,
    false,
    literal,
    not_,
    or_,
    select,
    true,
)

from app.fhir.audit_event import AUDIT_TYPE, RESTFUL_INTERACTION, RULE_BASE
from app.fhir.outcome import FhirError, bad_request
from app.fhir.profiles.canonical import CPR_SYSTEM, SOR_SYSTEM
from app.fhir.search.definitions import CODE_SYSTEMS
from app.fhir.search.model import Criterion, DateValue, Filter, SortKey, TokenValue
from app.fhir.search.types.reference import ReferenceValue
from app.fhir.search.types.uri import UriValue
from app.storage.search_types import point_condition
from app.storage.search_types.token import code_condition
from app.storage.tables import audit_entity, audit_log

# The searched rows (shared, so the caller's compiled security predicate is reused).
AUDIT = audit_log.alias("a")
RESOURCE_TYPE = "AuditEvent"


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


def _token(
    system: ColumnElement[str | None], code: ColumnElement[str | None], present: ColumnElement[bool]
) -> Callable[[Filter], ColumnElement[bool]]:
    """A token parameter with one value per row (when `present`)."""

    def condition(f: Filter) -> ColumnElement[bool]:
        if f.modifier == "missing":
            return not_(present) if f.missing else present
        if f.modifier not in (None, "not"):
            raise _unsupported(f)
        values = [v for v in f.values if isinstance(v, TokenValue)]
        matching = and_(present, or_(false(), *(code_condition(system, code, v) for v in values)))
        return not_(matching) if f.modifier == "not" else matching

    return condition


def _unsupported(f: Filter | Criterion) -> FhirError:
    name = getattr(f, "name", "?")
    return bad_request(f"'{name}' is not supported on AuditEvent (the audit log's own table)", name)


def _system(param: str) -> ColumnElement[str | None]:
    return literal(CODE_SYSTEMS[(RESOURCE_TYPE, param)])


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
                        code_condition(literal(SOR_SYSTEM), a.c.org_sor, v),
                    ),
                    and_(
                        a.c.person_cpr.is_not(None),
                        code_condition(literal(CPR_SYSTEM), a.c.person_cpr, v),
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
    tokens = {
        "action": _token(_system("action"), a.c.action, true()),
        "outcome": _token(_system("outcome"), a.c.outcome, true()),
        "subtype": _token(literal(RESTFUL_INTERACTION), a.c.interaction, true()),
        "type": _token(literal(AUDIT_TYPE), literal("rest"), true()),
        "altid": _token(
            literal(None),
            a.c.person_alt_id,
            and_(a.c.person_cpr.is_not(None), a.c.person_alt_id.is_not(None)),
        ),
    }
    if f.param in tokens:
        return tokens[f.param](f)
    raise _unsupported(f)


def audit_criteria(a: FromClause, criteria: tuple[Criterion, ...]) -> ColumnElement[bool]:
    """The criteria ANDed over audit rows `a`; 400 for what the log cannot answer."""
    conditions = []
    for c in criteria:
        if not isinstance(c, Filter):
            raise _unsupported(c)
        conditions.append(_filter(a, c))
    return and_(true(), *conditions)


def audit_sort(a: FromClause, key: SortKey) -> ColumnElement[object]:
    if key.param in ("_lastUpdated", "date"):
        return a.c.recorded
    if key.param == "_id":
        return a.c.id
    raise bad_request(f"Sorting AuditEvents by '{key.param}' is not supported", "_sort")

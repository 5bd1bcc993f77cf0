"""What the policy decides: a row filter for the one SQL query, or a refusal."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.access.rules import Rule

# (parameter, value) pairs ANDed; a granular SMART scope is one such filter.
ParamFilter = tuple[tuple[str, str], ...]


class AccessDenied(Exception):
    """A refusal; the HTTP layer answers 403 and the refusal is audited."""

    def __init__(self, rule: Rule, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True, slots=True)
class RowFilter:
    """Which rows of one resource type the principal may see, as data.

    The storage layer compiles it into a WHERE condition; every query over
    resources (search, read, history, includes, chains, _has, totals) gets it.
    """

    rule: Rule
    allow_all: bool = False
    deny_all: bool = False
    # Patient data (patient-compartment types) is visible only when:
    # ... the organisation with this SOR has a treatment relation to the patient,
    relation_org_sor: str | None = None
    # ... or the patient is one of these (citizen self / custody holder's child),
    patient_cprs: tuple[str, ...] = ()
    # ... or one of these Patient ids (an external treatment-relation service said so).
    extra_patient_ids: tuple[str, ...] = ()
    # Opt-outs apply for this organisation (and professional); None: opt-outs lifted.
    opt_out_org_sor: str | None = None
    opt_out_authorization_id: str | None = None
    # Resources carrying any of these (system, code) security labels are invisible.
    excluded_labels: tuple[tuple[str, str], ...] = ()
    # Granular SMART scopes: the rows must match one of these parameter filters.
    granular: tuple[ParamFilter, ...] | None = None
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def everything(cls, rule: Rule = Rule.INTERNAL) -> RowFilter:
        return cls(rule=rule, allow_all=True)

    @classmethod
    def nothing(cls, rule: Rule) -> RowFilter:
        return cls(rule=rule, deny_all=True)

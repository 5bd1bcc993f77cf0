"""What the policy decides: a row filter for the one SQL query, or a refusal."""

from __future__ import annotations

from dataclasses import dataclass

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
    Only the internal principal's filter has `allow_all`.
    """

    rule: Rule
    allow_all: bool = False
    deny_all: bool = False
    # Organisations: patient data is visible when the organisation with this SOR
    # wrote it, when a plan's author shared it with this organisation (and the author
    # may see it), or when the organisation has a treatment relation to the patient
    # recorded by one of `relation_authorities`,
    org_sor: str | None = None
    relation_authorities: tuple[str, ...] = ()
    # ... or the patient is one of these Patient ids (the external treatment-relation
    # service confirmed it for this request).
    extra_patient_ids: tuple[str, ...] = ()
    # Citizens: the patients carrying these CPR numbers (self, or the custody holder's child).
    patient_cprs: tuple[str, ...] = ()
    # Opt-outs apply for this organisation (and professional); None: opt-outs lifted.
    opt_out_org_sor: str | None = None
    opt_out_authorization_id: str | None = None
    # Resources carrying any of these (system, code) security labels are invisible.
    excluded_labels: tuple[tuple[str, str], ...] = ()
    # Custody holders: also invisible are resources only labelled ones lead to, and audit
    # records naming a hidden resource (sundhedsloven §37 stk. 2).
    hide_what_labels_lead_to: bool = False
    # Granular SMART scopes: the rows must match one of these parameter filters.
    granular: tuple[ParamFilter, ...] | None = None
    # Subscriptions: only those of this owner (Principal.owner_key).
    owner_key: str | None = None
    # Provenance: visible when its target is, under the filter of the target's type
    # ((type, filter) per type a target may have); None for every other type.
    targets: tuple[tuple[str, RowFilter], ...] | None = None

    @classmethod
    def everything(cls) -> RowFilter:
        """Only for the internal principal (tests/access/test_fail_closed.py keeps it so)."""
        return cls(rule=Rule.INTERNAL, allow_all=True)

    @classmethod
    def nothing(cls, rule: Rule) -> RowFilter:
        return cls(rule=rule, deny_all=True)

"""Build the audit log entries of a request (R4 auditevent.html, IHE Basic Audit Log Patterns).

One entry per patient touched, so each citizen's MinLog shows only their own
events and never who else was in the same search result. An entry is a row of the
append-only audit log; it is served as the AuditEvent `render_audit_event` makes of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from app.access.principal import Principal
from app.fhir.audit_event import RULE_BASE, AuditEntry, action_for, render_audit_event
from app.fhir.operations import AuditAction

__all__ = ["RULE_BASE", "Action", "AuditRecord", "Outcome", "action_for", "audit_entry"]

Action = AuditAction
Outcome = Literal["0", "4", "8", "12"]  # success, minor failure (refused), serious, major


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What happened, to whom, decided by which rule."""

    interaction: str
    outcome: Outcome
    rule: str
    patient_id: str | None
    resources: Sequence[str] = ()
    description: str | None = None
    query: str | None = None
    # The purpose of use (v3 ActReason) when it is not treatment, e.g. HQUALIMP.
    purpose: str | None = None


def audit_entry(
    record: AuditRecord,
    *,
    principal: Principal,
    recorded: datetime,
    org_name: str | None = None,
    request_id: str | None = None,
) -> AuditEntry:
    """The audit log entry of `record`, done by `principal` (what its agents name)."""
    internal = principal.is_internal
    return AuditEntry(
        recorded=recorded,
        interaction=record.interaction,
        outcome=record.outcome,
        rule=record.rule,
        patient_id=record.patient_id,
        resources=tuple(record.resources),
        description=record.description,
        query=record.query,
        purpose=record.purpose,
        request_id=request_id,
        agent_type=principal.user_type,
        internal_job=principal.subject if internal else None,
        org_sor=None if internal else principal.org_sor,
        org_name=None if internal or not principal.org_sor else org_name,
        person_cpr=None if internal else principal.acting_cpr,
        person_relation=None if internal or not principal.acting_cpr else principal.relation,
        person_alt_id=None if internal or not principal.acting_cpr else principal.authorization_id,
        client_id=None if internal else principal.client_id,
        override_reason=principal.override_reason,
    )


def audit_event(
    record: AuditRecord,
    *,
    principal: Principal,
    recorded: datetime,
    org_name: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The AuditEvent (without id and version) of `record`, as the API will serve it."""
    return render_audit_event(
        audit_entry(
            record, principal=principal, recorded=recorded, org_name=org_name, request_id=request_id
        )
    )

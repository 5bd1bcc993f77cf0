"""The AuditEvent resource (R4 auditevent.html, IHE Basic Audit Log Patterns) of one
audit log entry.

An `AuditEntry` is one row of the append-only audit log (app.storage.tables.audit_log):
plain values, no FHIR. `render_audit_event` turns it into the AuditEvent JSON the API
serves; the audit layer builds entries from a request (app.audit.events), the storage
layer renders them when they are read. Same entry, same JSON (tests/audit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.fhir.instant import format_instant
from app.fhir.operations import AUDIT_ACTIONS, AuditAction
from app.fhir.who import client_who, internal_job_who, organisation_who, person_who

# The type AuditEvents are served as (stored as audit log rows, not as resources).
RESOURCE_TYPE = "AuditEvent"
AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
AGENT_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
RELATIONSHIP_SYSTEM = "http://hl7.dk/fhir/core/CodeSystem/dk-relatedperson-relationshipcodes"
# Marks AuditEvents of an emergency override (værdispring), for MinLog to highlight.
OVERRIDE_TAG = {
    "system": "http://esp-careplans.dk/fhir/CodeSystem/audit-flag",
    "code": "consent-override",
    "display": "Værdispring",
}
RULE_BASE = "http://esp-careplans.dk/fhir/rule/"


def action_for(interaction: str) -> AuditAction:
    """AuditEvent.action of an interaction, from the operations table (E when not listed)."""
    return AUDIT_ACTIONS.get(interaction, "E")


def policy_uri(rule: str) -> str:
    """AuditEvent.agent.policy is a uri: the rule's stable name under our base."""
    return RULE_BASE + rule


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit log row: what happened, to whom, by whom, under which rule."""

    recorded: datetime
    interaction: str
    outcome: str
    rule: str
    patient_id: str | None
    # Other resources the event names ("Type/id", at most a hundred).
    resources: Sequence[str] = ()
    description: str | None = None
    query: str | None = None
    # The purpose of use (v3 ActReason) when it is not (emergency) treatment.
    purpose: str | None = None
    request_id: str | None = None
    # Who: the principal's user type, and what of it the agents name.
    agent_type: str = "internal"
    internal_job: str | None = None
    org_sor: str | None = None
    org_name: str | None = None
    person_cpr: str | None = None
    person_relation: str | None = None
    person_alt_id: str | None = None
    client_id: str | None = None
    override_reason: str | None = None

    @property
    def action(self) -> AuditAction:
        return action_for(self.interaction)

    @property
    def entity_references(self) -> list[str]:
        """Every reference the event's entities name, its patient first."""
        patient = f"Patient/{self.patient_id}" if self.patient_id else None
        named = [patient] if patient else []
        return named + [r for r in self.resources if r != patient]


def _agents(e: AuditEntry) -> list[dict[str, Any]]:
    policy = [policy_uri(e.rule)]
    if e.agent_type == "internal":
        return [
            {
                "type": {"coding": [{"system": AGENT_TYPE, "code": "dataprocessor"}]},
                "who": internal_job_who(e.internal_job or ""),
                "requestor": True,
                "policy": policy,
            }
        ]
    agents: list[dict[str, Any]] = []
    if e.org_sor:
        agents.append(
            {
                "type": {"coding": [{"system": AGENT_TYPE, "code": "datacollector"}]},
                "who": organisation_who(e.org_sor, e.org_name),
                "requestor": e.agent_type == "system",
                "policy": list(policy),
            }
        )
    if e.person_cpr:
        person: dict[str, Any] = {
            "type": {"coding": [{"system": AGENT_TYPE, "code": "humanuser"}]},
            "who": person_who(e.person_cpr),
            "requestor": True,
            "policy": list(policy),
        }
        if e.person_relation == "custody":
            person["role"] = [
                {
                    "coding": [
                        {
                            "system": RELATIONSHIP_SYSTEM,
                            "code": "PARAUTH",
                            "display": "Forældremyndighedsindehaver",
                        }
                    ]
                }
            ]
        if e.person_alt_id:
            person["altId"] = e.person_alt_id
        agents.append(person)
    if e.client_id:
        agents.append(
            {
                "type": {"coding": [{"system": PARTICIPATION, "code": "DEV", "display": "device"}]},
                "who": client_who(e.client_id),
                "requestor": False,
            }
        )
    return agents


def _entities(e: AuditEntry) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if e.patient_id:
        entities.append(
            {
                "what": {"reference": f"Patient/{e.patient_id}"},
                "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    entities.extend(
        {
            "what": {"reference": reference},
            "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
        }
        for reference in e.resources
        if reference != f"Patient/{e.patient_id}"
    )
    if e.query:
        entities.append(
            {
                "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
                "description": e.query,
            }
        )
    return entities


def render_audit_event(e: AuditEntry) -> dict[str, Any]:
    """The AuditEvent of `e`, without id and version (the store adds those)."""
    override = e.override_reason
    purpose = {
        "coding": [
            {"system": ACT_REASON, "code": e.purpose or ("ETREAT" if override else "TREAT")}
        ],
        **({"text": override} if override else {}),
    }
    event: dict[str, Any] = {"resourceType": RESOURCE_TYPE}
    if override:
        event["meta"] = {"tag": [dict(OVERRIDE_TAG)]}
    event.update(
        {
            "type": {"system": AUDIT_TYPE, "code": "rest", "display": "RESTful Operation"},
            "subtype": [{"system": RESTFUL_INTERACTION, "code": e.interaction}],
            "action": e.action,
            "recorded": format_instant(e.recorded),
            "outcome": e.outcome,
            "purposeOfEvent": [purpose],
            "agent": _agents(e),
            "source": {
                "observer": {"display": "esp-careplans"},
                "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
            },
        }
    )
    description = e.description or e.rule
    event["outcomeDesc"] = description + (f" (request {e.request_id})" if e.request_id else "")
    entities = _entities(e)
    if entities:
        event["entity"] = entities
    return event

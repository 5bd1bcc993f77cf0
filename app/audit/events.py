"""Build AuditEvent resources (R4 auditevent.html, IHE Basic Audit Log Patterns).

One AuditEvent per patient touched, so each citizen's MinLog shows only their own
events and never who else was in the same search result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from app.access.principal import Principal
from app.audit.agents import client_who, internal_who, organisation_who, person_who
from app.fhir.instant import format_instant
from app.fhir.operations import AUDIT_ACTIONS, AuditAction

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


RULE_BASE = "http://esp-careplans.dk/fhir/rule/"


def _policy(rule: str) -> str:
    """AuditEvent.agent.policy is a uri: the rule's stable name under our base."""
    return RULE_BASE + rule


def action_for(interaction: str) -> Action:
    """AuditEvent.action of an interaction, from the operations table (E when not listed)."""
    return AUDIT_ACTIONS.get(interaction, "E")


def _agents(principal: Principal, org_name: str | None, rule: str) -> list[dict[str, Any]]:
    if principal.is_internal:
        return [
            {
                "type": {"coding": [{"system": AGENT_TYPE, "code": "dataprocessor"}]},
                "who": internal_who(principal),
                "requestor": True,
                "policy": [_policy(rule)],
            }
        ]
    agents: list[dict[str, Any]] = []
    if principal.org_sor:
        agents.append(
            {
                "type": {"coding": [{"system": AGENT_TYPE, "code": "datacollector"}]},
                "who": organisation_who(principal.org_sor, org_name),
                "requestor": principal.user_type == "system",
                "policy": [_policy(rule)],
            }
        )
    if principal.acting_cpr:
        person: dict[str, Any] = {
            "type": {"coding": [{"system": AGENT_TYPE, "code": "humanuser"}]},
            "who": person_who(principal.acting_cpr),
            "requestor": True,
            "policy": [_policy(rule)],
        }
        if principal.relation == "custody":
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
        if principal.authorization_id:
            person["altId"] = principal.authorization_id
        agents.append(person)
    if principal.client_id:
        agents.append(
            {
                "type": {"coding": [{"system": PARTICIPATION, "code": "DEV", "display": "device"}]},
                "who": client_who(principal.client_id),
                "requestor": False,
            }
        )
    return agents


def audit_event(
    record: AuditRecord,
    *,
    principal: Principal,
    recorded: datetime,
    org_name: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    override = principal.override_reason
    purpose = {
        "coding": [
            {"system": ACT_REASON, "code": record.purpose or ("ETREAT" if override else "TREAT")}
        ],
        **({"text": override} if override else {}),
    }
    entities: list[dict[str, Any]] = []
    if record.patient_id:
        entities.append(
            {
                "what": {"reference": f"Patient/{record.patient_id}"},
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
        for reference in record.resources
        if reference != f"Patient/{record.patient_id}"
    )
    if record.query:
        entities.append(
            {
                "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
                "description": record.query,
            }
        )
    event: dict[str, Any] = {"resourceType": "AuditEvent"}
    if override:
        event["meta"] = {"tag": [dict(OVERRIDE_TAG)]}
    event.update(
        {
            "type": {"system": AUDIT_TYPE, "code": "rest", "display": "RESTful Operation"},
            "subtype": [{"system": RESTFUL_INTERACTION, "code": record.interaction}],
            "action": action_for(record.interaction),
            "recorded": format_instant(recorded),
            "outcome": record.outcome,
            "purposeOfEvent": [purpose],
            "agent": _agents(principal, org_name, record.rule),
            "source": {
                "observer": {"display": "esp-careplans"},
                "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
            },
        }
    )
    description = record.description or record.rule
    event["outcomeDesc"] = description + (f" (request {request_id})" if request_id else "")
    if entities:
        event["entity"] = entities
    return event

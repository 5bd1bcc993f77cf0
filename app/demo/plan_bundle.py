"""A plan and what it refers to, as one transaction Bundle shaped like fhir_profiles/examples.

Every entry is a conditional create (Patient by CPR, Organization by SOR, the rest by a
stable record identifier), so loading a bundle twice creates nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.demo.families import patient_entry, patient_full_url, patients
from app.demo.ids import URI_SYSTEM, demo_identifier
from app.demo.organisations import Org
from app.fhir.profiles.canonical import (
    DISCHARGE_DATE_EXTENSION,
    ESP_CONDITION,
    ESP_DISCHARGE_AGREEMENT,
    ESP_GOAL,
    ESP_PATHWAY_PLAN,
    ESP_REHABILITATION_PLAN,
    GOP_TYPE_SYSTEM,
    HIDDEN_FROM_CUSTODY_HOLDER,
    PATHWAY_ACTIVITY_SYSTEM,
    PATIENT_PARTICIPATION_EXTENSION,
    PATIENT_PARTICIPATION_SYSTEM,
    PLAN_TYPE_SYSTEM,
    SECURITY_LABEL_SYSTEM,
    PlanType,
)

SKS_SYSTEM = "urn:oid:1.2.208.176.2.4.12"
ICPC2_SYSTEM = "urn:oid:1.2.208.176.2.31"

_PLAN_DISPLAY = {
    PlanType.DISCHARGE_AGREEMENT: "Udskrivningsaftale",
    PlanType.COORDINATION_PLAN: "Koordinationsplan",
    PlanType.PATHWAY_PLAN_COPD: "Forløbsplan for KOL",
    PlanType.PATHWAY_PLAN_T2D: "Forløbsplan for type 2-diabetes",
    PlanType.REHABILITATION_PLAN: "Genoptræningsplan",
}
_PROFILE = {
    PlanType.DISCHARGE_AGREEMENT: ESP_DISCHARGE_AGREEMENT,
    PlanType.COORDINATION_PLAN: ESP_DISCHARGE_AGREEMENT,
    PlanType.PATHWAY_PLAN_COPD: ESP_PATHWAY_PLAN,
    PlanType.PATHWAY_PLAN_T2D: ESP_PATHWAY_PLAN,
    PlanType.REHABILITATION_PLAN: ESP_REHABILITATION_PLAN,
}
_PARTICIPATION = {
    "participated": "Patienten har medvirket",
    "declined": "Patienten har ikke ønsket at medvirke",
    "unable": "Patienten har ikke kunnet medvirke",
}
_GOP = {
    "almen": "Almen genoptræning",
    "basal": "Almen genoptræning på basalt niveau",
    "avanceret": "Almen genoptræning på avanceret niveau",
    "specialiseret": "Specialiseret genoptræning",
}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A Condition (esp-condition): SKS-D or ICPC-2 codings only."""

    codings: tuple[tuple[str, str, str], ...]  # (system, code, display)
    text: str
    recorded: str


@dataclass(frozen=True, slots=True)
class GoalSpec:
    """A Goal (esp-goal) with one target: a measure and a due date."""

    text: str
    measure: str
    detail: str
    due: str


@dataclass(frozen=True, slots=True)
class Activity:
    """What one party does; performer None means the patient."""

    description: str
    performer: Org | None
    code: tuple[str, str] | None = None  # pathway-activity (code, display)
    status: str = "scheduled"


@dataclass(frozen=True, slots=True)
class PlanSpec:
    key: str
    patient: str  # MedCom id
    kind: PlanType
    title: str
    description: str
    author: Org
    parties: tuple[Org, ...]
    start: str
    end: str
    diagnoses: tuple[Diagnosis, ...]
    goals: tuple[GoalSpec, ...]
    activities: tuple[Activity, ...]
    participation: str | None = None  # §13a/§13b plans
    discharge_date: str | None = None
    gop_type: str | None = None  # rehabilitation plans
    hidden_from_custody_holder: bool = False

    @property
    def identifier(self) -> dict[str, str]:
        return demo_identifier("CarePlan", self.key)


def patient_display(medcom_id: str) -> str:
    name = patients()[medcom_id]["name"][0]
    return " ".join([*name.get("given", []), name["family"]])


def _conditional(resource: dict[str, Any], full_url: str) -> dict[str, Any]:
    ident = resource["identifier"][0]
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {
            "method": "POST",
            "url": resource["resourceType"],
            "ifNoneExist": f"identifier={URI_SYSTEM}|{ident['value']}",
        },
    }


def _condition(plan: PlanSpec, index: int, dx: Diagnosis) -> dict[str, Any]:
    ident = demo_identifier("Condition", plan.key, str(index))
    subject = {
        "reference": patient_full_url(plan.patient),
        "display": patient_display(plan.patient),
    }
    return _conditional(
        {
            "resourceType": "Condition",
            "meta": {"profile": [ESP_CONDITION]},
            "identifier": [ident],
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "code": {
                "coding": [{"system": s, "code": c, "display": d} for s, c, d in dx.codings],
                "text": dx.text,
            },
            "subject": subject,
            "recordedDate": dx.recorded,
        },
        ident["value"],
    )


def _goal(plan: PlanSpec, index: int, goal: GoalSpec, conditions: list[str]) -> dict[str, Any]:
    ident = demo_identifier("Goal", plan.key, str(index))
    return _conditional(
        {
            "resourceType": "Goal",
            "meta": {"profile": [ESP_GOAL]},
            "identifier": [ident],
            "lifecycleStatus": "active",
            "description": {"text": goal.text},
            "subject": {
                "reference": patient_full_url(plan.patient),
                "display": patient_display(plan.patient),
            },
            "startDate": plan.start,
            "target": [
                {
                    "measure": {"text": goal.measure},
                    "detailString": goal.detail,
                    "dueDate": goal.due,
                }
            ],
            "addresses": [{"reference": url} for url in conditions],
        },
        ident["value"],
    )


def _activity(plan: PlanSpec, activity: Activity) -> dict[str, Any]:
    performer = (
        activity.performer.reference()
        if activity.performer
        else {"reference": patient_full_url(plan.patient), "display": patient_display(plan.patient)}
    )
    detail: dict[str, Any] = {
        "status": activity.status,
        "performer": [performer],
        "description": activity.description,
    }
    if activity.code:
        code, display = activity.code
        detail = {
            "code": {
                "coding": [{"system": PATHWAY_ACTIVITY_SYSTEM, "code": code, "display": display}]
            },
            **detail,
        }
    return {"detail": detail}


def _extensions(plan: PlanSpec) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if plan.participation:
        found.append(
            {
                "url": PATIENT_PARTICIPATION_EXTENSION,
                "valueCoding": {
                    "system": PATIENT_PARTICIPATION_SYSTEM,
                    "code": plan.participation,
                    "display": _PARTICIPATION[plan.participation],
                },
            }
        )
    if plan.discharge_date:
        found.append({"url": DISCHARGE_DATE_EXTENSION, "valueDate": plan.discharge_date})
    return found


def careplan(plan: PlanSpec, conditions: list[str], goals: list[str]) -> dict[str, Any]:
    """The CarePlan of `plan`, its parties in a contained CareTeam `#parter`."""
    category = [
        {
            "coding": [
                {"system": PLAN_TYPE_SYSTEM, "code": plan.kind, "display": _PLAN_DISPLAY[plan.kind]}
            ]
        }
    ]
    if plan.gop_type:
        category.append(
            {
                "coding": [
                    {
                        "system": GOP_TYPE_SYSTEM,
                        "code": plan.gop_type,
                        "display": _GOP[plan.gop_type],
                    }
                ]
            }
        )
    meta: dict[str, Any] = {"profile": [_PROFILE[plan.kind]]}
    if plan.hidden_from_custody_holder:
        meta["security"] = [
            {
                "system": SECURITY_LABEL_SYSTEM,
                "code": HIDDEN_FROM_CUSTODY_HOLDER,
                "display": "Skjult for forældremyndighedsindehaver",
            }
        ]
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "meta": meta,
        "contained": [
            {
                "resourceType": "CareTeam",
                "id": "parter",
                "status": "active",
                "name": "Parter i planen",
                "participant": [org.party() for org in plan.parties],
            }
        ],
        "identifier": [plan.identifier],
        "status": "active",
        "intent": "plan",
        "category": category,
        "title": plan.title,
        "description": plan.description,
        "subject": {
            "reference": patient_full_url(plan.patient),
            "display": patient_display(plan.patient),
        },
        "period": {"start": plan.start, "end": plan.end},
        "created": plan.start,
        "author": plan.author.reference(),
        "careTeam": [{"reference": "#parter"}],
        "addresses": [{"reference": url} for url in conditions],
        "goal": [{"reference": url} for url in goals],
        "activity": [_activity(plan, a) for a in plan.activities],
    }
    if extensions := _extensions(plan):
        resource["extension"] = extensions
    return resource


def plan_bundle(plan: PlanSpec) -> dict[str, Any]:
    """The transaction an EHR would push for `plan` (docs/profiles.md §8)."""
    conditions = [_condition(plan, i, dx) for i, dx in enumerate(plan.diagnoses)]
    condition_urls = [e["fullUrl"] for e in conditions]
    goals = [_goal(plan, i, g, condition_urls) for i, g in enumerate(plan.goals)]
    orgs = {o.sor: o for o in (plan.author, *plan.parties)}
    orgs.update({a.performer.sor: a.performer for a in plan.activities if a.performer})
    plan_entry = _conditional(
        careplan(plan, condition_urls, [e["fullUrl"] for e in goals]), plan.identifier["value"]
    )
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            patient_entry(plan.patient),
            *(org.entry() for org in orgs.values()),
            *conditions,
            *goals,
            plan_entry,
        ],
    }

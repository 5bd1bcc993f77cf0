"""A small Danish world for the access-rule matrix: organisations, families, plans.

Each organisation writes its own part through the same code path as the API, as itself,
so access comes only from evidence: what it authored, what a plan's author shared with
it, and the relations and custody the registry feeds (the relation and custody
authorities of the development settings) recorded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from app.access.age import today_in_copenhagen
from app.access.principal import Principal
from app.loader import LOADER, as_organisation, load_bundle
from app.settings import DEMO_CONTACT_FEED_SOR, DEMO_CPR_REGISTRY_SOR, Settings
from tests.support.resources import CPR_SYSTEM, SOR_SYSTEM
from tests.support.tokens import (
    GITTE_BERGGREN,
    HOSPITAL_SOR,
    KIRSTEN_BERGGREN,
    LARS_BERGGREN,
    MUNICIPALITY_SOR,
)

OTHER_MUNICIPALITY_SOR = "100000000000727"  # stands for Odder Kommune: no relation to anyone
# The registry feeds: the development settings' custody and relation authorities.
REGISTRY_SOR = DEMO_CPR_REGISTRY_SOR  # CPR registry: Patients, custody (PARAUTH), GP listing
CONTACT_FEED_SOR = DEMO_CONTACT_FEED_SOR  # the regions' contact feed: hospital contacts
EINER = "0201609995"
ANDERS_JENSEN = "3103979995"  # father (FTH) of Lars in this world, without custody
NEARLY_15_CPR = "0101129995"
JUST_15_CPR = "0101119995"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
HIDDEN_LABEL = {
    "system": "http://esp-careplans.dk/fhir/CodeSystem/security-label",
    "code": "hidden-from-custody-holder",
}
RELATIONSHIP = "http://hl7.dk/fhir/core/CodeSystem/dk-relatedperson-relationshipcodes"
ROLE_CODES = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def _org(oid: str, sor: str, name: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": oid,
        "identifier": [{"system": SOR_SYSTEM, "value": sor}],
        "name": name,
    }


def _patient(pid: str, cpr: str, birth: date, given: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": CPR_SYSTEM, "value": cpr}],
        "name": [{"family": "Test", "given": [given]}],
        "birthDate": birth.isoformat(),
    }


def _related(rid: str, child: str, parent_cpr: str, system: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "id": rid,
        "patient": {"reference": f"Patient/{child}"},
        "identifier": [{"system": CPR_SYSTEM, "value": parent_cpr}],
        "relationship": [{"coding": [{"system": system, "code": code}]}],
    }


def _condition(cid: str, patient: str, code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{patient}"},
        "code": {"coding": [{"system": "urn:oid:1.2.208.176.2.4.12", "code": code}], "text": text},
    }


def _plan(pid: str, patient: str, author: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "id": pid,
        "status": "active",
        "intent": "plan",
        "subject": {"reference": f"Patient/{patient}"},
        "author": {"reference": f"Organization/{author}"},
        "description": f"Plan {pid}",
        **extra,
    }


def _team_plan(pid: str, patient: str, author: str, member: str) -> dict[str, Any]:
    """A plan whose contained CareTeam names `member`: a treatment relation for it."""
    return _plan(
        pid,
        patient,
        author,
        contained=[
            {
                "resourceType": "CareTeam",
                "id": "team",
                "participant": [{"member": {"reference": f"Organization/{member}"}}],
            }
        ],
        careTeam=[{"reference": "#team"}],
    )


def fifteenth_birthday_today() -> date:
    """A birth date that makes the child turn 15 today in Copenhagen."""
    today = today_in_copenhagen()
    try:
        return today.replace(year=today.year - 15)
    except ValueError:  # today is 29 February: born on 29 February turns 15 on 1 March
        return date(today.year - 15, 2, 28)


@dataclass(frozen=True, slots=True)
class Writes:
    """What one writer puts into the world, as itself."""

    principal: Principal
    resources: list[dict[str, Any]]


def contact(eid: str, patient: str, org: str) -> dict[str, Any]:
    """A hospital contact as the regions' contact feed records it (a treatment relation)."""
    return {
        "resourceType": "EpisodeOfCare",
        "id": eid,
        "status": "active",
        "patient": {"reference": f"Patient/{patient}"},
        "managingOrganization": {"reference": f"Organization/{org}"},
    }


def einer_opt_out() -> dict[str, Any]:
    """Einer's opt-out of sharing with Horsens Kommune (negativt samtykke)."""
    return {
        "resourceType": "Consent",
        "id": "einer-optout",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/einer"},
        "provision": {
            "type": "deny",
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "PRCP",
                            }
                        ]
                    },
                    "reference": {"reference": "Organization/horsens-kommune"},
                }
            ],
        },
    }


def world() -> list[Writes]:
    """The registry's people and custody, the contact feed's contacts, the hospital's plans."""
    registry = [
        _org("hospital", HOSPITAL_SOR, "Regionshospitalet Horsens"),
        _org("horsens-kommune", MUNICIPALITY_SOR, "Horsens Kommune"),
        _org("odder-kommune", OTHER_MUNICIPALITY_SOR, "Odder Kommune"),
        _patient("lars", LARS_BERGGREN, date(2015, 5, 5), "Lars"),
        _patient("gitte", GITTE_BERGGREN, date(2010, 5, 5), "Gitte"),
        _patient("einer", EINER, date(1960, 1, 2), "Einer"),
        # 14 years and 364 days old today, and 15 today.
        _patient(
            "nearly15", NEARLY_15_CPR, fifteenth_birthday_today() + timedelta(days=1), "Næsten"
        ),
        _patient("just15", JUST_15_CPR, fifteenth_birthday_today(), "Netop"),
        _related("kirsten-lars", "lars", KIRSTEN_BERGGREN, RELATIONSHIP, "PARAUTH"),
        _related("kirsten-gitte", "gitte", KIRSTEN_BERGGREN, RELATIONSHIP, "PARAUTH"),
        _related("kirsten-nearly15", "nearly15", KIRSTEN_BERGGREN, RELATIONSHIP, "PARAUTH"),
        _related("kirsten-just15", "just15", KIRSTEN_BERGGREN, RELATIONSHIP, "PARAUTH"),
        _related("anders-lars", "lars", ANDERS_JENSEN, ROLE_CODES, "FTH"),
    ]
    contacts = [
        contact(f"contact-{p}", p, "hospital")
        for p in ("lars", "gitte", "einer", "nearly15", "just15")
    ]
    hospital = [
        # The fracture is addressed by both of Lars' plans; the adjustment disorder and the
        # school goal only by the plan hidden from custody holders (§37 stk. 2).
        _condition("lars-fracture", "lars", "DS525", "Brud på håndleddet"),
        _condition("lars-adjustment", "lars", "DF432", "Tilpasningsreaktion"),
        {
            "resourceType": "Goal",
            "id": "lars-school-goal",
            "lifecycleStatus": "active",
            "description": {"text": "Lars går i skole hver dag"},
            "subject": {"reference": "Patient/lars"},
        },
        _plan(
            "lars-plan", "lars", "hospital", addresses=[{"reference": "Condition/lars-fracture"}]
        ),
        _plan(
            "lars-hidden",
            "lars",
            "hospital",
            meta={"security": [HIDDEN_LABEL]},
            addresses=[
                {"reference": "Condition/lars-adjustment"},
                {"reference": "Condition/lars-fracture"},
            ],
            goal=[{"reference": "Goal/lars-school-goal"}],
        ),
        _plan("gitte-plan", "gitte", "hospital"),
        _plan("nearly15-plan", "nearly15", "hospital"),
        _plan("just15-plan", "just15", "hospital"),
        _team_plan("einer-rehab", "einer", "hospital", "horsens-kommune"),
        _plan("einer-other", "einer", "hospital"),
        {
            "resourceType": "Condition",
            "id": "einer-kol",
            "subject": {"reference": "Patient/einer"},
            "code": {"coding": [{"system": "urn:oid:1.2.208.176.2.4.12", "code": "DJ44"}]},
        },
    ]
    return [
        Writes(as_organisation(REGISTRY_SOR), registry),
        Writes(as_organisation(CONTACT_FEED_SOR), contacts),
        Writes(as_organisation(HOSPITAL_SOR), hospital),
        # The citizen's own opt-out, recorded by an operator for the test.
        Writes(LOADER, [einer_opt_out()]),
    ]


def load_writes(settings: Settings, writes: Writes) -> None:
    """Load one writer's resources (PUT with their ids) as that writer; all must be created."""
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in writes.resources
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = asyncio.run(load_bundle(settings, bundle, principal=writes.principal))
    assert all(e["response"]["status"].startswith("201") for e in response["entry"]), response


def load_world(settings: Settings) -> None:
    for writes in world():
        load_writes(settings, writes)


def ids(bundle: dict[str, Any], resource_type: str | None = None) -> list[str]:
    """The ids of a searchset's resources (of one type)."""
    return sorted(
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode") != "outcome"
        and (resource_type is None or e["resource"]["resourceType"] == resource_type)
    )


def rule_of(response: Any) -> str:
    """The rule a refusal's OperationOutcome names."""
    return str(response.json()["issue"][0]["details"]["coding"][0]["code"])

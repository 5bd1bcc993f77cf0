"""A small Danish world for the access-rule matrix: organisations, families, plans.

Loaded through the same code path as the API, as a trusted internal caller, so the
treatment relations come only from what the resources say (plan authors, care teams).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from app.access.age import today_in_copenhagen
from app.loader import load_bundle
from app.settings import Settings
from tests.support.resources import CPR_SYSTEM, SOR_SYSTEM
from tests.support.tokens import (
    GITTE_BERGGREN,
    HOSPITAL_SOR,
    KIRSTEN_BERGGREN,
    LARS_BERGGREN,
    MUNICIPALITY_SOR,
)

OTHER_MUNICIPALITY_SOR = "100000000000727"  # stands for Odder Kommune: no relation to anyone
EINER = "0201609995"
ANDERS_JENSEN = "3103979995"  # father (FTH) of Lars in this world, without custody
NEARLY_15_CPR = "0101129995"
JUST_15_CPR = "0101119995"
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


def world() -> list[dict[str, Any]]:
    einer_optout = {
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
    return [
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
        _plan("lars-plan", "lars", "hospital"),
        _plan("lars-hidden", "lars", "hospital", meta={"security": [HIDDEN_LABEL]}),
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
        einer_optout,
    ]


def load_world(settings: Settings) -> None:
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in world()
    ]
    response = asyncio.run(
        load_bundle(settings, {"resourceType": "Bundle", "type": "transaction", "entry": entries})
    )
    assert all(e["response"]["status"].startswith("201") for e in response["entry"]), response

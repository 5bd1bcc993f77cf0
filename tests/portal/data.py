"""The portal's test families, created through the FHIR API as their writers would.

The CPR registry feed (a custody authority in the development settings) records the
people and custody; the hospital pushes the plans.

Kirsten Berggren has verified custody (PARAUTH) of Lars (b. 2015) and Gitte (b. 2010, so
over 15); Anders Jensen is Ali's father without custody. Lars has one plan labelled
hidden from custody holders (sundhedsloven §37 stk. 2). Pia has two plans, one updated
once so "Ændringer" has a version to compare.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.fhir.profiles.canonical import HIDDEN_FROM_CUSTODY_HOLDER, SECURITY_LABEL_SYSTEM

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "fhir_profiles" / "examples"
CPR = "urn:oid:1.2.208.176.1.2"
SOR = "urn:oid:1.2.208.176.1.1"
RELATIONSHIP = "http://hl7.dk/fhir/core/CodeSystem/dk-relatedperson-relationshipcodes"

KIRSTEN, PIA, GITTE, LARS = "2911829996", "0505059996", "0505109990", "0505159995"
ANDERS, ALI = "3103979995", "3101229995"
HOSPITAL_SOR, HOSPITAL_NAME = "100000000000001", "Regionshospitalet Horsens"

PEOPLE = {
    KIRSTEN: ("Kirsten", "Berggren", "1982-11-29", "female"),
    PIA: ("Pia", "Berggren", "2005-05-05", "female"),
    GITTE: ("Gitte Nancy", "Berggren", "2010-05-05", "female"),
    LARS: ("Lars", "Berggren", "2015-05-05", "male"),
    ANDERS: ("Anders", "Jensen", "1997-03-31", "male"),
    ALI: ("Ali", "Jensen", "2022-01-31", "male"),
}

# (request, path, body) -> response JSON; raises on an HTTP error.
Send = Callable[[str, str, dict[str, Any] | None], dict[str, Any]]


def patient(cpr: str) -> dict[str, Any]:
    given, family, birth, gender = PEOPLE[cpr]
    return {
        "resourceType": "Patient",
        "identifier": [{"use": "official", "system": CPR, "value": cpr}],
        "name": [{"use": "official", "family": family, "given": given.split()}],
        "birthDate": birth,
        "gender": gender,
    }


def related_person(parent_cpr: str, child_id: str, code: str) -> dict[str, Any]:
    given, family, birth, gender = PEOPLE[parent_cpr]
    return {
        "resourceType": "RelatedPerson",
        "active": True,
        "patient": {"reference": f"Patient/{child_id}"},
        "identifier": [{"system": CPR, "value": parent_cpr}],
        "relationship": [{"coding": [{"system": RELATIONSHIP, "code": code}]}],
        "name": [{"family": family, "given": given.split()}],
        "birthDate": birth,
        "gender": gender,
    }


def plan_bundle(example: str, cpr: str, *, hidden: bool = False) -> dict[str, Any]:
    """An example plan bundle re-targeted to `cpr`, with fresh ids for its own resources."""
    text = (EXAMPLES / f"Bundle-{example}.json").read_text(encoding="utf-8")
    bundle = json.loads(text)
    own = {
        e["fullUrl"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] in ("Condition", "Goal", "CarePlan")
    }
    for old in own:
        text = text.replace(old, f"urn:uuid:{uuid.uuid4()}")
    bundle = json.loads(text)
    given, family, _, _ = PEOPLE[cpr]
    for entry in bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Patient":
            entry["resource"] = patient(cpr)
            entry["request"]["ifNoneExist"] = f"identifier={CPR}|{cpr}"
        elif "subject" in res:
            res["subject"]["display"] = f"{given} {family}"
        if res["resourceType"] == "CarePlan":
            res["description"] = re.sub(
                r"for [A-ZÆØÅ]\w+ Test \w+", f"for {given}", res.get("description", "")
            )
            if hidden:
                res.setdefault("meta", {})["security"] = [
                    {"system": SECURITY_LABEL_SYSTEM, "code": HIDDEN_FROM_CUSTODY_HOLDER}
                ]
                res["title"] = "Skjult plan (må ikke ses af forældre)"
    return bundle


def care_plan_ids(response: dict[str, Any]) -> list[str]:
    found = []
    for entry in response.get("entry", []):
        match = re.search(r"(?:^|/)CarePlan/([^/]+)", entry["response"].get("location", ""))
        if match:
            found.append(match.group(1))
    return found


def create_families(send: Send, registry: Send) -> dict[str, Any]:
    """Create every family (as `registry`) and plan (as `send`); returns the ids tests need."""
    send(
        "POST",
        "Organization",
        {
            "resourceType": "Organization",
            "identifier": [{"system": SOR, "value": HOSPITAL_SOR}],
            "name": HOSPITAL_NAME,
        },
    )
    ids = {cpr: registry("POST", "Patient", patient(cpr))["id"] for cpr in PEOPLE}
    for child in (LARS, GITTE):
        registry("POST", "RelatedPerson", related_person(KIRSTEN, ids[child], "PARAUTH"))
    registry("POST", "RelatedPerson", related_person(ANDERS, ids[ALI], "FTH"))
    lars = care_plan_ids(send("POST", "", plan_bundle("rehabilitation-plan", LARS)))
    hidden = care_plan_ids(send("POST", "", plan_bundle("discharge-agreement", LARS, hidden=True)))
    gitte = care_plan_ids(send("POST", "", plan_bundle("pathway-plan-t2d", GITTE)))
    pia = care_plan_ids(send("POST", "", plan_bundle("pathway-plan-copd", PIA)))
    pia += care_plan_ids(send("POST", "", plan_bundle("discharge-agreement", PIA)))
    send("POST", "", plan_bundle("rehabilitation-plan", ALI))
    # A second version of Pia's KOL plan, so "Ændringer" has something to show.
    plan = send("GET", f"CarePlan/{pia[0]}", None)
    plan["status"] = "on-hold"
    plan["period"]["end"] = "2028-01-31"
    plan["activity"] = plan["activity"][:-1]
    send("PUT", f"CarePlan/{pia[0]}", plan)
    return {
        "patients": ids,
        "lars_plans": lars,
        "hidden_plans": hidden,
        "gitte_plans": gitte,
        "pia_plans": pia,
    }

"""Danish test data builders, in one place (MedCom test persons, SOR codes)."""

from __future__ import annotations

import uuid
from typing import Any

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"
PLAN_TYPE_SYSTEM = "http://esp-careplans.dk/fhir/CodeSystem/plan-type"

# MedCom test person (../shared/reference/medcom-test-families.json).
CPR_EINER = "0201609995"


def patient(
    cpr: str = CPR_EINER, family: str = "Lauridsen", given: str = "Einer", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"use": "official", "system": CPR_SYSTEM, "value": cpr}],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": "male",
        "birthDate": "1960-01-02",
        **extra,
    }


def organization(
    sor: str = "123456789012345", name: str = "Regionshospitalet Horsens"
) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "identifier": [{"system": SOR_SYSTEM, "value": sor}],
        "active": True,
        "name": name,
    }


def careplan(
    patient_ref: str = "Patient/example", status: str = "active", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": status,
        "intent": "plan",
        "subject": {"reference": patient_ref},
        "description": "Opfølgning efter udskrivelse",
        **extra,
    }


def unique_cpr() -> str:
    """A valid-format test CPR (DDMMYY + 4), different on every call."""
    n = uuid.uuid4().int
    return f"{1 + n % 28:02d}{1 + (n >> 8) % 12:02d}{(n >> 16) % 100:02d}{(n >> 24) % 10000:04d}"

"""Einer Lauridsen's opt-out (negativt samtykke, sundhedsloven §42a stk. 5).

Einer has said no to Skanderborg Kommune seeing his shared plans: an active Consent
with scope patient-privacy, provision.type deny and Skanderborg Kommune as actor.
Skanderborg Kommune is named in both his plans, so they are shared with it, and it
still sees nothing of his, unless a professional uses an emergency override. Einer
records it himself, as a citizen app would: one Consent whose patient and actor are
conditional references (a citizen writes nothing but their own opt-out).
"""

from __future__ import annotations

from typing import Any

from app.demo.families import cpr_of, patient_full_url, patients
from app.demo.ids import URI_SYSTEM, demo_identifier
from app.demo.organisations import SKANDERBORG, Org
from app.fhir.profiles.canonical import CPR_SYSTEM, SOR_SYSTEM

CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"


def opt_out_consent(patient: str, blocked: Org, key: str) -> dict[str, Any]:
    """An active patient-privacy Consent denying `blocked` access to `patient`'s data."""
    return {
        "resourceType": "Consent",
        "identifier": [demo_identifier("Consent", key)],
        "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE_SYSTEM, "code": "patient-privacy"}]},
        "category": [
            {
                "coding": [
                    {"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}
                ],
                "text": "Fravalg af deling af helbredsoplysninger",
            }
        ],
        "patient": {"reference": patient_full_url(patient)},
        "dateTime": "2026-11-20T10:00:00+01:00",
        "policyRule": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}
            ],
            "text": "Borgeren har frabedt sig, at oplysningerne deles med organisationen",
        },
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
                    "reference": {
                        "reference": blocked.full_url,
                        "type": "Organization",
                        "identifier": {"system": SOR_SYSTEM, "value": blocked.sor},
                        "display": blocked.name,
                    },
                }
            ],
        },
    }


OPT_OUT_BY = "Einer"  # MedCom id of the citizen who records the demo's opt-out


def opt_out_bundle() -> dict[str, Any]:
    consent = opt_out_consent(OPT_OUT_BY, SKANDERBORG, "einer-fravalg-skanderborg")
    ident = consent["identifier"][0]["value"]
    cpr = cpr_of(patients()[OPT_OUT_BY])
    consent["patient"] = {"reference": f"Patient?identifier={CPR_SYSTEM}|{cpr}"}
    consent["provision"]["actor"][0]["reference"]["reference"] = (
        f"Organization?identifier={SOR_SYSTEM}|{SKANDERBORG.sor}"
    )
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": ident,
                "resource": consent,
                "request": {
                    "method": "POST",
                    "url": "Consent",
                    "ifNoneExist": f"identifier={URI_SYSTEM}|{ident}",
                },
            },
        ],
    }

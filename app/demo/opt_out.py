"""Einer Lauridsen's opt-out (negativt samtykke, sundhedsloven §42a stk. 5).

Einer has said no to Skanderborg Kommune seeing his shared plans: an active Consent
with scope patient-privacy, provision.type deny and Skanderborg Kommune as actor.
Skanderborg Kommune is party to both his plans, so it has a treatment relation and
still sees nothing of his, unless a professional uses an emergency override.
"""

from __future__ import annotations

from typing import Any

from app.demo.families import patient_entry, patient_full_url
from app.demo.ids import URI_SYSTEM, demo_identifier
from app.demo.organisations import SKANDERBORG, Org
from app.fhir.profiles.canonical import SOR_SYSTEM

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


def opt_out_bundle() -> dict[str, Any]:
    consent = opt_out_consent("Einer", SKANDERBORG, "einer-fravalg-skanderborg")
    ident = consent["identifier"][0]["value"]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            patient_entry("Einer"),
            SKANDERBORG.entry(),
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

""" "Min spærring": opt-outs (negativt samtykke, sundhedsloven §42a stk. 5) as FHIR Consent.

A Consent with scope patient-privacy, provision.type deny and one actor, the
organisation (by SOR) that may no longer see the plans, for a period. Revoking sets
status inactive; the history keeps the old version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.portal.labels import COPENHAGEN, moment, period

SOR = "urn:oid:1.2.208.176.1.1"
SCOPE = {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
CATEGORY = {"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}
POLICY = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}
RECIPIENT = {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}


@dataclass(frozen=True, slots=True)
class Organisation:
    sor: str
    name: str


@dataclass(frozen=True, slots=True)
class OptOut:
    id: str
    organisation: str
    period: str
    created: str


class OptOutError(ValueError):
    """A form value the portal refuses before asking the API (message in Danish)."""


def organisations(entries: list[dict[str, Any]]) -> list[Organisation]:
    found: dict[str, Organisation] = {}
    for entry in entries:
        org = entry.get("resource") or {}
        for ident in org.get("identifier", []):
            if ident.get("system") == SOR and ident.get("value") and org.get("name"):
                found.setdefault(ident["value"], Organisation(ident["value"], org["name"]))
    return sorted(found.values(), key=lambda o: o.name)


def _day(value: str, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise OptOutError(f"{label} skal være en dato (åååå-mm-dd)") from None


def build_opt_out(
    patient_id: str, org: Organisation, start: str, end: str, today: date
) -> dict[str, Any]:
    """The Consent resource to create; OptOutError for an impossible period."""
    first = _day(start, "Startdato") or today
    last = _day(end, "Slutdato")
    if last is not None and last < first:
        raise OptOutError("Slutdatoen skal ligge efter startdatoen")
    provision_period = {"start": first.isoformat()}
    if last is not None:
        provision_period["end"] = last.isoformat()
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [SCOPE]},
        "category": [{"coding": [CATEGORY]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": datetime.now(COPENHAGEN).isoformat(timespec="seconds"),
        "policyRule": {"coding": [POLICY]},
        "provision": {
            "type": "deny",
            "period": provision_period,
            "actor": [
                {
                    "role": {"coding": [RECIPIENT]},
                    "reference": {
                        "type": "Organization",
                        "identifier": {"system": SOR, "value": org.sor},
                        "display": org.name,
                    },
                }
            ],
        },
    }


def active_opt_outs(entries: list[dict[str, Any]]) -> list[OptOut]:
    shown: list[OptOut] = []
    for entry in entries:
        consent = entry.get("resource") or {}
        if consent.get("resourceType") != "Consent" or consent.get("status") != "active":
            continue
        provision = consent.get("provision") or {}
        if provision.get("type") != "deny":
            continue
        names = [
            str((a.get("reference") or {}).get("display") or "Ukendt organisation")
            for a in provision.get("actor", [])
        ] or ["Alle organisationer"]
        shown.append(
            OptOut(
                id=str(consent.get("id")),
                organisation=", ".join(names),
                period=period(provision.get("period"))
                if provision.get("period")
                else "Indtil du tilbagekalder den",
                created=moment(consent.get("dateTime")),
            )
        )
    return shown

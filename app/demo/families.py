"""MedCom's test families as the CPR registry feed records them: people, custody, GP.

The families (data/medcom-test-families.json) say who is mother or father (MTH, FTH),
which is not custody; custody is DK-core's relationship code PARAUTH
(forældremyndighedsindehaver), recorded here for Kirsten Berggren's four youngest
children only (sundhedsloven §39a). Anders Jensen stays father (FTH) of Ali Jensen
without custody. The feed also records the GP each person is listed with
(`Patient.generalPractitioner`): a treatment relation from a relation authority.
The bundle is loaded as the feed (app/demo/organisations.py CPR_REGISTRY), a custody
and relation authority in the development settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from app.demo.ids import URI_SYSTEM, demo_identifier, demo_uuid
from app.demo.organisations import GP_HEDENSTED, GP_HORSENS, GP_ODDER, GP_SKANDERBORG, Org
from app.fhir.profiles.canonical import CPR_SYSTEM, ESP_PATIENT, SOR_SYSTEM

FAMILIES_FILE = Path(__file__).parent / "data" / "medcom-test-families.json"
RELATIONSHIP_SYSTEM = "http://hl7.dk/fhir/core/CodeSystem/dk-relatedperson-relationshipcodes"


@dataclass(frozen=True, slots=True)
class Custody:
    """A recorded forældremyndighed: parent (MedCom id) over child (MedCom id)."""

    parent: str
    child: str


# The GP each person with a plan is listed with (lægevalg), by MedCom id.
GP_LISTING: dict[str, Org] = {
    **dict.fromkeys(
        ("KirstenBerggren", "PiaBerggren", "GitteNancy", "LarsBerggren", "RikkeBerggren"),
        GP_HORSENS,
    ),
    **dict.fromkeys(("AyaBerggren", "NancyAnn"), GP_HORSENS),
    **dict.fromkeys(("Einer", "Bruno"), GP_SKANDERBORG),
    **dict.fromkeys(("Rasmus", "AliJensen"), GP_HEDENSTED),
    "MaxBerggren": GP_ODDER,
}

CUSTODY: tuple[Custody, ...] = (
    Custody("KirstenBerggren", "LarsBerggren"),
    Custody("KirstenBerggren", "RikkeBerggren"),
    Custody("KirstenBerggren", "AyaBerggren"),
    Custody("KirstenBerggren", "GitteNancy"),
)


@cache
def _families() -> tuple[dict[str, Any], ...]:
    document = json.loads(FAMILIES_FILE.read_text(encoding="utf-8"))
    return tuple(e["resource"] for e in document["entry"])


def patients() -> dict[str, dict[str, Any]]:
    """MedCom id → Patient, as stored in the data file."""
    return {r["id"]: r for r in _families() if r["resourceType"] == "Patient"}


def cpr_of(patient: dict[str, Any]) -> str:
    return next(str(i["value"]) for i in patient["identifier"] if i.get("system") == CPR_SYSTEM)


def patient_id_for_cpr(cpr: str) -> str:
    """The MedCom id of the test person with this CPR number."""
    return next(pid for pid, p in patients().items() if cpr_of(p) == cpr)


def patient_full_url(medcom_id: str) -> str:
    return f"urn:uuid:{demo_uuid('Patient', medcom_id)}"


def _rewrite(node: Any) -> Any:
    """`Patient/<MedCom id>` references → the demo's urn:uuid fullUrls."""
    if isinstance(node, dict):
        return {
            k: (
                patient_full_url(v.removeprefix("Patient/"))
                if k == "reference" and isinstance(v, str) and v.startswith("Patient/")
                else _rewrite(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    return node


def patient_entry(medcom_id: str) -> dict[str, Any]:
    """The test person as a conditional create by CPR (docs/profiles.md §8).

    Patient.link (seealso between spouses) is left out: in R4 it would put the spouse's
    record in this patient's compartment, and so in every treatment relation of theirs.
    """
    source = patients()[medcom_id]
    resource = {k: v for k, v in source.items() if k not in ("id", "link")}
    resource["meta"] = {"profile": [ESP_PATIENT]}
    return {
        "fullUrl": patient_full_url(medcom_id),
        "resource": resource,
        "request": {
            "method": "POST",
            "url": "Patient",
            "ifNoneExist": f"identifier={CPR_SYSTEM}|{cpr_of(source)}",
        },
    }


def _listed(entry: dict[str, Any], gp: Org | None) -> dict[str, Any]:
    """The registry's Patient entry with the GP the person is listed with (lægevalg)."""
    if gp is not None:
        entry["resource"]["generalPractitioner"] = [
            {
                "reference": gp.full_url,
                "type": "Organization",
                "identifier": {"system": SOR_SYSTEM, "value": gp.sor},
                "display": gp.name,
            }
        ]
    return entry


def _related_entry(key: str, resource: dict[str, Any]) -> dict[str, Any]:
    ident = demo_identifier("RelatedPerson", key)
    body = _rewrite({k: v for k, v in resource.items() if k != "id"})
    body["identifier"] = [*body.get("identifier", []), ident]
    return {
        "fullUrl": f"urn:uuid:{demo_uuid('RelatedPerson', key)}",
        "resource": body,
        "request": {
            "method": "POST",
            "url": "RelatedPerson",
            "ifNoneExist": f"identifier={URI_SYSTEM}|{ident['value']}",
        },
    }


def custody_resource(custody: Custody) -> dict[str, Any]:
    """A PARAUTH RelatedPerson from the child's birth (DK-core dk-core-related-person)."""
    parent, child = patients()[custody.parent], patients()[custody.child]
    return {
        "resourceType": "RelatedPerson",
        "active": True,
        "patient": {"reference": f"Patient/{custody.child}"},
        "relationship": [
            {
                "coding": [
                    {
                        "system": RELATIONSHIP_SYSTEM,
                        "code": "PARAUTH",
                        "display": "Forældremyndighedsindehaver",
                    }
                ]
            }
        ],
        "identifier": [{"use": "official", "system": CPR_SYSTEM, "value": cpr_of(parent)}],
        "name": parent["name"],
        "gender": parent.get("gender"),
        "period": {"start": child["birthDate"]},
    }


def families_bundle() -> dict[str, Any]:
    """Every test person, their family relations, the recorded custody and GP listings."""
    entries = [gp.entry() for gp in dict.fromkeys(GP_LISTING.values())]
    entries += [_listed(patient_entry(pid), GP_LISTING.get(pid)) for pid in patients()]
    entries += [
        _related_entry(r["id"], r) for r in _families() if r["resourceType"] == "RelatedPerson"
    ]
    entries += [
        _related_entry(f"custody-{c.parent}-{c.child}", custody_resource(c)) for c in CUSTODY
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}

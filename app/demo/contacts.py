"""Hospital contacts as the regions' contact feed records them (EpisodeOfCare).

An open EpisodeOfCare written by a relation authority is a treatment relation
(sundhedsloven §42a): the managing organisation sees all of the patient's data. The
demo's hospital departments have contacts with the patients whose plans they wrote,
so they also see the other plans of those patients (docs/demo.md). Loaded as the feed
(app/demo/organisations.py CONTACT_FEED).
"""

from __future__ import annotations

from typing import Any

from app.demo.families import patient_entry, patient_full_url
from app.demo.ids import URI_SYSTEM, demo_identifier
from app.demo.organisations import HOSPITAL, PSYKIATRIEN, Org

# (department, MedCom id of the patient, start of the contact)
CONTACTS: tuple[tuple[Org, str, str], ...] = (
    (PSYKIATRIEN, "Rasmus", "2026-09-01"),
    (PSYKIATRIEN, "PiaBerggren", "2026-08-15"),
    (PSYKIATRIEN, "GitteNancy", "2026-08-30"),
    (PSYKIATRIEN, "LarsBerggren", "2026-10-28"),
    (HOSPITAL, "NancyAnn", "2026-10-01"),
    (HOSPITAL, "Einer", "2026-11-12"),
    (HOSPITAL, "LarsBerggren", "2026-09-20"),
    (HOSPITAL, "RikkeBerggren", "2026-10-01"),
    (HOSPITAL, "AliJensen", "2026-11-08"),
)


def _contact_entry(org: Org, patient: str, start: str) -> dict[str, Any]:
    ident = demo_identifier("EpisodeOfCare", f"{org.key}-{patient}")
    return {
        "resource": {
            "resourceType": "EpisodeOfCare",
            "identifier": [ident],
            "status": "active",
            "patient": {"reference": patient_full_url(patient)},
            "managingOrganization": org.reference(),
            "period": {"start": start},
        },
        "request": {
            "method": "POST",
            "url": "EpisodeOfCare",
            "ifNoneExist": f"identifier={URI_SYSTEM}|{ident['value']}",
        },
    }


def contacts_bundle() -> dict[str, Any]:
    """The open contacts, with the departments and patients they name (conditional creates)."""
    orgs = dict.fromkeys(org for org, _, _ in CONTACTS)
    people = dict.fromkeys(patient for _, patient, _ in CONTACTS)
    entries = [org.entry() for org in orgs]
    entries += [patient_entry(patient) for patient in people]
    entries += [_contact_entry(org, patient, start) for org, patient, start in CONTACTS]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}

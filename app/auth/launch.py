"""Whom a citizen's SMART launch can be for: themself, or a child whose custody is verified.

The child picker offers only children for whom `app.access.custody.decide_custody`
allows access today with the same facts the access rules read for a request (PARAUTH
RelatedPersons written by a custody authority; sundhedsloven §39a: under 15, or §39b
continued). The access rules still decide every request the token is used for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from app.access.age import age_on, birth_date_from_cpr
from app.access.custody import decide_custody
from app.fhir.names import display_name
from app.storage.access_facts import AccessFacts, ChildCandidate


@dataclass(frozen=True, slots=True)
class Citizen:
    """A person who can sign in on the development login page (a demo persona)."""

    key: str
    name: str
    cpr: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class LaunchSubject:
    """The patient a token is bound to, and how the signed-in citizen relates to them."""

    citizen_cpr: str
    relation: Literal["self", "custody"]
    patient_id: str
    # SMART `fhirUser`: the signed-in user as a FHIR resource, relative to the base URL
    # (Patient for themself, the parent's RelatedPerson when acting for a child).
    fhir_user: str
    name: str
    age: int | None


async def launch_subjects(
    facts: AccessFacts, acting_cpr: str, today: date, custody_authorities: frozenset[str]
) -> list[LaunchSubject]:
    """The citizen themself (if known here), then each child in verified custody."""
    subjects: list[LaunchSubject] = []
    own = await facts.patient_for_cpr(acting_cpr)
    patient = await facts.patient(own[1]) if own else None
    if own and patient is not None:
        pid = own[1]
        subjects.append(
            LaunchSubject(
                acting_cpr,
                "self",
                pid,
                f"Patient/{pid}",
                display_name(patient),
                _age(patient, acting_cpr, today),
            )
        )
    for candidate in await facts.children_in_custody(acting_cpr, custody_authorities):
        subject = _child_subject(candidate, acting_cpr, today)
        if subject is not None:
            subjects.append(subject)
    return subjects


def _child_subject(candidate: ChildCandidate, parent_cpr: str, today: date) -> LaunchSubject | None:
    def decide(records: tuple[dict[str, Any], ...]) -> tuple[str, ...]:
        decision = decide_custody(
            parent_cpr=parent_cpr,
            child_cpr=candidate.cpr,
            child=candidate.child,
            related_persons=records,
            today=today,
        )
        return decision.patient_ids if decision.allowed else ()

    patient_ids = decide(candidate.related_persons)
    if not patient_ids:
        return None
    # The parent's own custody record that grants access on its own is their fhirUser.
    holder = next(r for r in candidate.related_persons if decide((r,)))
    return LaunchSubject(
        candidate.cpr,
        "custody",
        patient_ids[0],
        f"RelatedPerson/{holder['id']}",
        display_name(candidate.patient),
        _age(candidate.patient, candidate.cpr, today),
    )


def _age(patient: dict[str, Any], cpr: str, today: date) -> int | None:
    birth = patient.get("birthDate")
    try:
        born = (
            date.fromisoformat(birth[:10])
            if isinstance(birth, str) and len(birth) >= 10
            else birth_date_from_cpr(cpr)
        )
        return age_on(born, today)
    except ValueError:
        return None

"""Conditional interactions are searches (R4 http.html#ccreate, #cond-update, #cdelete).

Their criteria match only what the caller may see for the interaction: a match the caller
may not see behaves exactly like no match, and no status, diagnostic or header names it.
The one exception is a Patient looked up by CPR number: there is one Patient per CPR, so a
registered writer gets its id (never its content) to reference it, and the lookup is
audited in the citizen's MinLog (docs/authorization.md, "Conditional interactions").
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from app.fhir.outcome import FhirError, bad_request
from app.fhir.profiles.canonical import CPR_SYSTEM
from app.interactions.session import Session

Criteria = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Match:
    """The one resource criteria matched; `readable`: the caller may read its content."""

    pk: int
    id: str
    readable: bool


def parse_criteria(query: str, where: str) -> Criteria:
    criteria = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if not criteria:
        raise bad_request(f"{where} needs search criteria", where)
    return criteria


def cpr_criteria(resource_type: str, criteria: Criteria) -> str | None:
    """The CPR number when the criteria are exactly `Patient?identifier=<CPR system>|<cpr>`."""
    if resource_type != "Patient" or len(criteria) != 1:
        return None
    name, value = criteria[0]
    system, bar, cpr = value.partition("|")
    return cpr if name == "identifier" and bar and system == CPR_SYSTEM and cpr else None


async def _patient_by_cpr(s: Session, cpr: str) -> Match | None:
    found = await s.repo.patient_for_cpr(cpr)
    if found is None:
        return None
    pk, patient_id = found
    s.touch([(pk, f"Patient/{patient_id}")])  # the lookup itself is in the citizen's MinLog
    return Match(pk, patient_id, await s.repo.exists_visible("Patient", patient_id))


async def single_match(
    s: Session, resource_type: str, criteria: Criteria, interaction: str
) -> Match | None:
    """The one match among what the caller may see for `interaction`; None for none,
    412 for several (R4 http.html#cond-update). Takes the criteria's lock first."""
    await s.repo.lock_criteria(resource_type, criteria)
    matches = await s.repo.find(resource_type, criteria, interaction=interaction, limit=2)
    if len(matches) > 1:
        raise FhirError.of(
            412, "multiple-matches", f"The criteria match more than one {resource_type}"
        )
    if not matches:
        return None
    pk, match_id = matches[0]
    return Match(pk, match_id, True)


async def match_for_create(s: Session, resource_type: str, criteria: Criteria) -> Match | None:
    """What an If-None-Exist matches: a Patient by CPR whoever may see it, anything else
    among what the caller may see. `readable` says whether its content may be returned."""
    cpr = cpr_criteria(resource_type, criteria)
    if cpr is None:
        match = await single_match(s, resource_type, criteria, "create")
        if match is None:
            return None
        readable = await s.repo.exists_visible(resource_type, match.id)
        return Match(match.pk, match.id, readable)
    await s.repo.lock_criteria(resource_type, criteria)
    return await _patient_by_cpr(s, cpr)


async def resolve_reference(s: Session, reference: str) -> str | None:
    """A conditional reference `Type?criteria` of a transaction (R4 http.html#trules) →
    the id it names, or None when it matches nothing the caller may see."""
    resource_type, _, query = reference.partition("?")
    criteria = parse_criteria(query, "Bundle.entry.resource")
    cpr = cpr_criteria(resource_type, criteria)
    if cpr is not None:
        match = await _patient_by_cpr(s, cpr)
    else:
        match = await single_match(s, resource_type, criteria, "read")
    return None if match is None else match.id

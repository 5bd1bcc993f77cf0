"""Opt-outs of sharing (negativt samtykke, sundhedsloven §42a stk. 5), read at write time.

An active Consent with scope `patient-privacy` and `provision.type` deny hides the
patient's data from the organisations (or professionals) it names, or from everyone.
Stored as rows when the Consent is written, so the read-time check is an indexed
condition (PRINCIPLES.md principle 7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.access.references import contained_of, organisation_ref
from app.fhir.search.dates import date_range

AUTHORIZATION_ID_SYSTEM = "https://autregweb.sst.dk"
CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"


@dataclass(frozen=True, slots=True)
class OptOutFact:
    actor_sor: str | None
    actor_organization_id: str | None
    actor_authorization_id: str | None
    period_start: datetime | None
    period_end: datetime | None
    res_type: str | None
    data_ref: str | None


def _is_opt_out(consent: dict[str, Any]) -> bool:
    scope = consent.get("scope") or {}
    privacy = any(
        c.get("system") == CONSENT_SCOPE_SYSTEM and c.get("code") == "patient-privacy"
        for c in scope.get("coding", [])
    )
    provision = consent.get("provision") or {}
    return consent.get("status") == "active" and privacy and provision.get("type") == "deny"


def _actors(consent: dict[str, Any]) -> list[tuple[str | None, str | None, str | None]]:
    """(sor, organization id, authorization id) of each provision.actor; [(None,)*3] = all."""
    contained = contained_of(consent)
    actors: list[tuple[str | None, str | None, str | None]] = []
    for actor in (consent.get("provision") or {}).get("actor", []):
        ref = actor.get("reference") or {}
        org = organisation_ref(ref, contained)
        if org is not None:
            actors.append((org.sor, org.organization_id, None))
            continue
        ident = ref.get("identifier") or {}
        if ident.get("system") == AUTHORIZATION_ID_SYSTEM and ident.get("value"):
            actors.append((None, None, str(ident["value"])))
    return actors or [(None, None, None)]


def opt_out_facts(consent: dict[str, Any]) -> list[OptOutFact]:
    """Rows for an active patient-privacy deny Consent; [] for any other resource."""
    if consent.get("resourceType") != "Consent" or not _is_opt_out(consent):
        return []
    provision = consent.get("provision") or {}
    period = provision.get("period") or {}
    start = date_range(period["start"])[0] if period.get("start") else None
    end = date_range(period["end"])[1] if period.get("end") else None
    types = [c.get("code") for c in provision.get("class", []) if c.get("code")]
    data = [
        d["reference"]["reference"]
        for d in provision.get("data", [])
        if isinstance(d.get("reference"), dict) and d["reference"].get("reference")
    ]
    limits: list[tuple[str | None, str | None]] = [(t, None) for t in types] + [
        (None, ref) for ref in data
    ]
    return [
        OptOutFact(sor, org_id, auth_id, start, end, res_type, data_ref)
        for sor, org_id, auth_id in _actors(consent)
        for res_type, data_ref in (limits or [(None, None)])
    ]

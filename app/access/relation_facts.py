"""What a resource says about treatment relations and opt-outs, read at write time.

Treatment relation (sundhedsloven §42a): an organisation that takes part in a
patient's plan, care team or episode of care treats the patient. Opt-out
(negativt samtykke, sundhedsloven §42a stk. 5): an active Consent that denies
sharing. Both are stored as rows when the resource is written, so the read-time
check is an indexed condition (PRINCIPLES.md principle 7).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from app.fhir.profiles.canonical import SOR_SYSTEM
from app.fhir.search.dates import date_range

AUTHORIZATION_ID_SYSTEM = "https://autregweb.sst.dk"
CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"

RelationKind = Literal["plan", "careteam", "episode"]

_ACTIVE_PLAN = {"draft", "active", "on-hold", "completed", "unknown"}
_ACTIVE_TEAM = {"proposed", "active", "suspended"}
_ACTIVE_EPISODE = {"planned", "waitlist", "active", "onhold"}


@dataclass(frozen=True, slots=True)
class OrgMention:
    """An organisation named by SOR, or by a local reference whose SOR is looked up."""

    kind: RelationKind
    sor: str | None = None
    organization_id: str | None = None


@dataclass(frozen=True, slots=True)
class OptOutFact:
    actor_sor: str | None
    actor_organization_id: str | None
    actor_authorization_id: str | None
    period_start: datetime | None
    period_end: datetime | None
    res_type: str | None
    data_ref: str | None


def _contained(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"#{c['id']}": c
        for c in resource.get("contained", [])
        if isinstance(c, dict) and isinstance(c.get("id"), str)
    }


def _sor_of(identifiers: Any) -> str | None:
    for ident in identifiers if isinstance(identifiers, list) else [identifiers]:
        if isinstance(ident, dict) and ident.get("system") == SOR_SYSTEM and ident.get("value"):
            return str(ident["value"])
    return None


def _organization(
    ref: Any, kind: RelationKind, contained: dict[str, dict[str, Any]]
) -> OrgMention | None:
    """An Organization reference → OrgMention (by SOR identifier, contained, or Organization/id)."""
    if not isinstance(ref, dict):
        return None
    sor = _sor_of(ref.get("identifier"))
    target = ref.get("reference")
    if sor is not None and ref.get("type") in (None, "Organization"):
        return OrgMention(kind, sor=sor)
    if isinstance(target, str):
        if target.startswith("#"):
            found = contained.get(target)
            if found and found.get("resourceType") == "Organization":
                sor = _sor_of(found.get("identifier"))
                return OrgMention(kind, sor=sor) if sor else None
            return None
        parts = target.split("/")
        if len(parts) >= 2 and parts[-2] == "Organization":
            return OrgMention(kind, organization_id=parts[-1])
    return None


def _team_members(
    team: dict[str, Any], kind: RelationKind, contained: dict[str, dict[str, Any]]
) -> Iterator[OrgMention]:
    if team.get("status", "active") not in _ACTIVE_TEAM:
        return
    for participant in team.get("participant", []):
        for key in ("member", "onBehalfOf"):
            mention = _organization(participant.get(key), kind, contained)
            if mention:
                yield mention
    for org in team.get("managingOrganization", []):
        mention = _organization(org, kind, contained)
        if mention:
            yield mention


def organization_mentions(resource: dict[str, Any]) -> list[OrgMention]:
    """The organisations this resource puts in a treatment relation with its patient(s)."""
    contained = _contained(resource)
    rtype = resource.get("resourceType")
    found: list[OrgMention] = []
    if rtype == "CarePlan" and resource.get("status") in _ACTIVE_PLAN:
        for ref in [resource.get("author"), *resource.get("contributor", [])]:
            mention = _organization(ref, "plan", contained)
            if mention:
                found.append(mention)
        for team_ref in resource.get("careTeam", []):
            team = contained.get(str(team_ref.get("reference", "")))
            if team and team.get("resourceType") == "CareTeam":
                found.extend(_team_members(team, "plan", contained))
        for activity in resource.get("activity", []):
            for performer in (activity.get("detail") or {}).get("performer", []):
                mention = _organization(performer, "plan", contained)
                if mention:
                    found.append(mention)
    elif rtype == "CareTeam":
        found.extend(_team_members(resource, "careteam", contained))
    elif rtype == "EpisodeOfCare" and resource.get("status") in _ACTIVE_EPISODE:
        mention = _organization(resource.get("managingOrganization"), "episode", contained)
        if mention:
            found.append(mention)
    return list(dict.fromkeys(found))


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
    contained = _contained(consent)
    actors: list[tuple[str | None, str | None, str | None]] = []
    for actor in (consent.get("provision") or {}).get("actor", []):
        ref = actor.get("reference") or {}
        mention = _organization(ref, "plan", contained)
        if mention is not None:
            actors.append((mention.sor, mention.organization_id, None))
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

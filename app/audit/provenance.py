"""Build the Provenance of a version (R4 provenance.html): who wrote it, how, when.

One per create, update, patch and delete, written by the server in the version's own
transaction. The target is the version itself (`CarePlan/x/_history/2`); the agents are
the author organisation, the acting person (on behalf of the organisation) and the
client system (on behalf of the person, or of the organisation).
"""

from __future__ import annotations

from typing import Any

from app.access.principal import Principal
from app.audit.agents import (
    client_who,
    internal_who,
    organisation_who,
    person_who,
    professional_who,
)
from app.fhir.instant import format_instant
from app.storage.records import StoredResource

PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
_DISPLAY = {"CREATE": "create", "UPDATE": "revise", "DELETE": "delete"}


def activity_code(stored: StoredResource) -> str:
    """v3-DataOperation: the first version is a CREATE (also by PUT), a deletion a DELETE,
    anything else (PUT, PATCH) an UPDATE."""
    if stored.deleted:
        return "DELETE"
    return "CREATE" if stored.version_id == 1 else "UPDATE"


def _agent(code: str, who: dict[str, Any], on_behalf_of: dict[str, Any] | None) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": code}]},
        "who": who,
    }
    if on_behalf_of is not None:
        agent["onBehalfOf"] = on_behalf_of
    return agent


def provenance_agents(principal: Principal, org_name: str | None) -> list[dict[str, Any]]:
    """The organisation (author), the person acting for it, the client acting for them."""
    if principal.is_internal:
        return [_agent("assembler", internal_who(principal), None)]
    org = organisation_who(principal.org_sor, org_name) if principal.org_sor else None
    if principal.user_type == "professional":
        person = professional_who(principal)
    else:
        person = person_who(principal.acting_cpr) if principal.acting_cpr else None
    agents: list[dict[str, Any]] = []
    if org is not None:
        agents.append(_agent("author", org, None))
    if person is not None:
        agents.append(_agent("performer" if org else "author", person, org))
    if principal.client_id:
        agents.append(_agent("enterer", client_who(principal.client_id), person or org))
    return agents


def provenance(
    stored: StoredResource, principal: Principal, org_name: str | None
) -> dict[str, Any]:
    """The Provenance of one stored version; `recorded` is the version's lastUpdated."""
    code = activity_code(stored)
    return {
        "resourceType": "Provenance",
        "target": [{"reference": f"{stored.reference}/_history/{stored.version_id}"}],
        "recorded": format_instant(stored.last_updated),
        "activity": {
            "coding": [{"system": DATA_OPERATION, "code": code, "display": _DISPLAY[code]}]
        },
        "agent": provenance_agents(principal, org_name),
    }

"""Who acted, as FHIR References: shared by AuditEvent and Provenance agents.

The organisation is named by its SOR code (and name when we know it), the person by
the identifier the token carries, the client by its id, the service's own jobs by name.
"""

from __future__ import annotations

from typing import Any

from app.access.principal import Principal
from app.fhir.profiles.canonical import CPR_SYSTEM, SOR_SYSTEM

# The Danish register of authorised health professionals (autorisations-id).
AUTHORIZATION_ID_SYSTEM = "https://autregweb.sst.dk"


def organisation_who(sor: str, name: str | None) -> dict[str, Any]:
    """The acting organisation by SOR code (an Organization identifier reference)."""
    who: dict[str, Any] = {"identifier": {"system": SOR_SYSTEM, "value": sor}}
    if name:
        who["display"] = name
    return who


def person_who(cpr: str) -> dict[str, Any]:
    """The acting person by CPR number (as the token names them)."""
    return {"identifier": {"system": CPR_SYSTEM, "value": cpr}}


def professional_who(principal: Principal) -> dict[str, Any] | None:
    """The acting professional for records other organisations read (Provenance): by
    autorisations-id when the token carries one, so their CPR number is not spread to
    every party of a plan; by CPR number otherwise."""
    if principal.authorization_id:
        return {
            "identifier": {"system": AUTHORIZATION_ID_SYSTEM, "value": principal.authorization_id}
        }
    return person_who(principal.acting_cpr) if principal.acting_cpr else None


def client_who(client_id: str) -> dict[str, Any]:
    return {"display": f"client {client_id}"}


def internal_who(principal: Principal) -> dict[str, Any]:
    return {"display": f"esp-careplans (internal job: {principal.subject})"}

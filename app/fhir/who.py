"""Who acted, as FHIR References, from plain values (AuditEvent and Provenance agents).

The organisation is named by its SOR code (and name when we know it), the person by
the identifier the token carries, the client by its id, the service's own jobs by name.
"""

from __future__ import annotations

from typing import Any

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


def client_who(client_id: str) -> dict[str, Any]:
    return {"display": f"client {client_id}"}


def internal_job_who(job: str) -> dict[str, Any]:
    return {"display": f"esp-careplans (internal job: {job})"}

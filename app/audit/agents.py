"""Who acted, as FHIR References: shared by AuditEvent and Provenance agents.

The reference builders from plain values are in app.fhir.who (the storage layer renders
stored AuditEvents with them); here are the ones that read a Principal.
"""

from __future__ import annotations

from typing import Any

from app.access.principal import Principal
from app.fhir.who import (
    AUTHORIZATION_ID_SYSTEM,
    client_who,
    internal_job_who,
    organisation_who,
    person_who,
)

__all__ = [
    "AUTHORIZATION_ID_SYSTEM",
    "client_who",
    "internal_who",
    "organisation_who",
    "person_who",
    "professional_who",
]


def professional_who(principal: Principal) -> dict[str, Any] | None:
    """The acting professional for records other organisations read (Provenance): by
    autorisations-id when the token carries one, so their CPR number is not spread to
    every party of a plan; by CPR number otherwise."""
    if principal.authorization_id:
        return {
            "identifier": {"system": AUTHORIZATION_ID_SYSTEM, "value": principal.authorization_id}
        }
    return person_who(principal.acting_cpr) if principal.acting_cpr else None


def internal_who(principal: Principal) -> dict[str, Any]:
    return internal_job_who(principal.subject)

"""The registry of resource types this server supports and what it does with each.

The CapabilityStatement, the routes and the repository all read this one table,
so what we advertise cannot drift from what we do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Interaction(StrEnum):
    """R4 TypeRestfulInteraction codes (http://hl7.org/fhir/restful-interaction)."""

    READ = "read"
    VREAD = "vread"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    HISTORY_INSTANCE = "history-instance"
    HISTORY_TYPE = "history-type"
    CREATE = "create"
    SEARCH_TYPE = "search-type"


READ_ONLY = frozenset(
    {
        Interaction.READ,
        Interaction.VREAD,
        Interaction.HISTORY_INSTANCE,
        Interaction.HISTORY_TYPE,
        Interaction.SEARCH_TYPE,
    }
)
READ_WRITE = frozenset(Interaction)


@dataclass(frozen=True, slots=True)
class ResourceTypeSpec:
    """What the server supports for one resource type."""

    name: str
    interactions: frozenset[Interaction]
    # Served from fhir_profiles/ rather than stored in the database.
    conformance: bool = False
    # Only the server writes it (AuditEvent, Provenance): clients get 405 on writes.
    server_written: bool = False
    documentation: str = ""

    @property
    def writable(self) -> bool:
        return Interaction.CREATE in self.interactions

    def supports(self, interaction: Interaction) -> bool:
        return interaction in self.interactions


_STORED = {
    "CarePlan": "Plans: discharge agreements, pathway plans, rehabilitation plans.",
    "Condition": "Diagnoses (SKS-D, ICPC-2).",
    "Goal": "Goals of a plan.",
    "Patient": "Citizens, identified by CPR.",
    "RelatedPerson": "Relatives; PARAUTH records custody (forældremyndighed).",
    "Organization": "Hospitals, municipalities and GP clinics, identified by SOR.",
    "Practitioner": "Health professionals.",
    "PractitionerRole": "A professional's role in an organisation.",
    "CareTeam": "The parties of a plan.",
    "EpisodeOfCare": "A treatment relation over time.",
    "ServiceRequest": "Referrals and requested services.",
    "Consent": "Citizen opt-outs of sharing (negativt samtykke) and other consents.",
    "Subscription": "Rest-hook notifications (id-only) of changes matching a search.",
}

REGISTRY: dict[str, ResourceTypeSpec] = {
    **{
        name: ResourceTypeSpec(name, READ_WRITE, documentation=doc) for name, doc in _STORED.items()
    },
    "AuditEvent": ResourceTypeSpec(
        "AuditEvent",
        READ_ONLY,
        server_written=True,
        documentation="Access log (MinLog); written only by the server.",
    ),
    "Provenance": ResourceTypeSpec(
        "Provenance",
        READ_ONLY,
        server_written=True,
        documentation=(
            "Who wrote each version, on whose behalf (one per create, update, patch and "
            "delete); written only by the server, readable by whoever may read its target."
        ),
    ),
    **{
        name: ResourceTypeSpec(
            name,
            frozenset({Interaction.READ, Interaction.SEARCH_TYPE}),
            conformance=True,
            documentation="Served read-only from fhir_profiles/.",
        )
        for name in ("StructureDefinition", "CodeSystem", "ValueSet", "OperationDefinition")
    },
}

STORED_TYPES = frozenset(name for name, spec in REGISTRY.items() if not spec.conformance)


def spec_for(resource_type: str) -> ResourceTypeSpec | None:
    return REGISTRY.get(resource_type)

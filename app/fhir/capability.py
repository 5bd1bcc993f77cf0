"""The CapabilityStatement, generated from the registries the server actually runs on.

Resource types and interactions come from `resource_types.REGISTRY`, system
interactions and `$` operations from `operations.OPERATIONS`, search parameters and
includes from `search.registry`, so /metadata cannot drift from the behaviour
(R4 capabilitystatement.html).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.fhir.operations import OPERATIONS
from app.fhir.resource_types import REGISTRY, Interaction
from app.fhir.search.registry import (
    SearchParam,
    include_targets,
    revinclude_sources,
    search_params,
)

FHIR_VERSION = "4.0.1"
SOFTWARE_NAME = "esp-careplans"


def _search_param_entries(params: Mapping[str, SearchParam]) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "definition": p.definition,
            "type": p.type,
            **({"documentation": p.documentation} if p.documentation else {}),
        }
        for p in params.values()
    ]


def _operation_entries(resource_type: str | None) -> list[dict[str, str]]:
    """rest.operation (no type: system level) or rest.resource.operation of one type."""
    found: dict[str, dict[str, str]] = {}
    for op in OPERATIONS:
        if op.definition is None or (op.level == "system") != (resource_type is None):
            continue
        if resource_type is not None and not op.offered_by(REGISTRY[resource_type]):
            continue
        name = (op.segment or op.name).lstrip("$")
        found.setdefault(name, {"name": name, "definition": op.definition})
    return list(found.values())


def _resource_entry(name: str, profiles: Sequence[str]) -> dict[str, Any]:
    spec = REGISTRY[name]
    writable = spec.writable
    entry: dict[str, Any] = {
        "type": name,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{name}",
    }
    if profiles:
        entry["supportedProfile"] = list(profiles)
    entry["documentation"] = spec.documentation
    entry["interaction"] = [{"code": i.value} for i in Interaction if spec.supports(i)]
    entry["versioning"] = "versioned-update" if writable else "versioned"
    entry["readHistory"] = spec.supports(Interaction.VREAD)
    entry["updateCreate"] = writable
    entry["conditionalCreate"] = writable
    entry["conditionalRead"] = "not-supported"
    entry["conditionalUpdate"] = writable
    entry["conditionalDelete"] = "single" if writable else "not-supported"
    entry["referencePolicy"] = ["literal", "logical"]
    params = search_params(name)
    if spec.supports(Interaction.SEARCH_TYPE):
        entry["searchInclude"] = list(include_targets(name))
        entry["searchRevInclude"] = list(revinclude_sources(name))
        entry["searchParam"] = _search_param_entries(params)
    if operations := _operation_entries(name):
        entry["operation"] = operations
    return entry


def capability_statement(
    *,
    base_url: str,
    version: str,
    release_date: str,
    security: Mapping[str, Any] | None = None,
    supported_profiles: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    profiles = supported_profiles or {}
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": "FHIR R4 API for sharing Danish care plans across sectors.",
    }
    if security:
        rest["security"] = dict(security)
    rest["resource"] = [_resource_entry(name, profiles.get(name, ())) for name in sorted(REGISTRY)]
    rest["interaction"] = [
        {"code": code} for op in OPERATIONS if op.level == "system" for code in op.capability
    ]
    rest["searchParam"] = [
        {
            "name": "_type",
            "type": "token",
            "definition": "http://hl7.org/fhir/SearchParameter/Resource-type",
        }
    ]
    if operations := _operation_entries(None):
        rest["operation"] = operations
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": release_date,
        "publisher": "esp-careplans",
        "kind": "instance",
        "software": {"name": SOFTWARE_NAME, "version": version},
        "implementation": {"description": "esp-careplans FHIR server", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [rest],
    }

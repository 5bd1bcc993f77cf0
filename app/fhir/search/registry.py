"""The search parameters this server supports, per resource type (R4 search.html).

One table drives indexing, query parsing and the CapabilityStatement, so what we
advertise cannot drift from what we do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from app.fhir.resource_types import REGISTRY
from app.fhir.search.definitions import COMMON, PARAMS, PATIENT_COMPARTMENT, SHARED

# A key of app.fhir.search.types.SEARCH_TYPES (checked by tests/search/test_agreement.py).
ParamType = str
DEFINITION_BASE = "http://hl7.org/fhir/SearchParameter/"


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One R4 SearchParameter as it applies to one resource type."""

    name: str
    type: ParamType
    expression: str
    definition: str
    targets: tuple[str, ...] = ()
    documentation: str = ""

    @property
    def is_common(self) -> bool:
        """Defined on Resource (`_id`, `_lastUpdated`, ...)."""
        return self.name.startswith("_")


def _definition(resource_type: str, code: str) -> str:
    if code.startswith("_"):
        return f"{DEFINITION_BASE}Resource-{code[1:]}"
    return DEFINITION_BASE + SHARED.get((resource_type, code), f"{resource_type}-{code}")


@cache
def search_params(resource_type: str) -> Mapping[str, SearchParam]:
    """Every supported parameter of `resource_type` by name (empty for unknown types)."""
    if resource_type not in PARAMS:
        return MappingProxyType({})
    table: dict[str, SearchParam] = {}
    for code, kind, expression, targets, doc in (*COMMON, *PARAMS[resource_type]):
        table[code] = SearchParam(
            name=code,
            type=kind,
            expression=expression.replace("Resource.", f"{resource_type}.", 1)
            if expression.startswith("Resource.")
            else expression,
            definition=_definition(resource_type, code),
            targets=targets,
            documentation=doc,
        )
    return MappingProxyType(table)


def searchable_types() -> tuple[str, ...]:
    return tuple(sorted(PARAMS))


def stored_types() -> tuple[str, ...]:
    """Types searched in the database (conformance resources are served from files)."""
    return tuple(t for t in searchable_types() if t in REGISTRY and not REGISTRY[t].conformance)


def reference_targets(param: SearchParam) -> tuple[str, ...]:
    """Concrete target types of a reference parameter (`Any` = every stored type)."""
    if "Any" in param.targets:
        return stored_types()
    return param.targets


def include_targets(resource_type: str) -> tuple[str, ...]:
    """CapabilityStatement.rest.resource.searchInclude values, e.g. `CarePlan:patient`."""
    params = search_params(resource_type)
    refs = sorted(p.name for p in params.values() if p.type == "reference")
    return (*(f"{resource_type}:{name}" for name in refs), "*") if refs else ()


def revinclude_sources(resource_type: str) -> tuple[str, ...]:
    """CapabilityStatement.rest.resource.searchRevInclude: `Source:param` pointing here."""
    found: list[str] = []
    for source in stored_types():
        for p in search_params(source).values():
            if p.type == "reference" and (resource_type in p.targets or "Any" in p.targets):
                found.append(f"{source}:{p.name}")
    return tuple(sorted(found))


def compartment_params(resource_type: str) -> tuple[str, ...]:
    """Parameters placing a `resource_type` in the patient compartment (R4)."""
    return PATIENT_COMPARTMENT.get(resource_type, ())

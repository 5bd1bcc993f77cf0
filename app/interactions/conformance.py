"""The conformance resources (StructureDefinition, CodeSystem, ValueSet, OperationDefinition):
read and search, served from fhir_profiles/."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.fhir.bundle import bundle, links, outcome_entry
from app.fhir.outcome import FhirError, Issue, bad_request, warning
from app.interactions.paging import page_url
from app.interactions.request import FhirRequest
from app.interactions.result import Result

# Search parameters of the conformance types (R4 conformance-url, -name, -status, -version).
_PARAMS = {"_id": "id", "url": "url", "name": "name", "status": "status", "version": "version"}
_CONTROL = {"_count", "_format", "_pretty", "_summary", "_total"}


class ConformanceResources:
    """The conformance resources the server publishes, indexed by type and id."""

    def __init__(self, resources: Iterable[dict[str, Any]]) -> None:
        self._by_type: dict[str, dict[str, dict[str, Any]]] = {}
        for resource in resources:
            self._by_type.setdefault(resource["resourceType"], {})[resource["id"]] = resource

    def read(self, req: FhirRequest) -> Result:
        found = self._by_type.get(req.resource_type or "", {}).get(req.resource_id or "")
        if found is None:
            raise FhirError.of(
                404, "not-found", f"{req.resource_type}/{req.resource_id} is not known"
            )
        return Result(200, body=found)

    def search(self, req: FhirRequest, base_url: str) -> Result:
        matches = list(self._by_type.get(req.resource_type or "", {}).values())
        ignored: list[str] = []
        notes: list[Issue] = []
        for name, value in req.query:
            if name in _CONTROL:
                continue
            base_name, _, modifier = name.partition(":")
            element = _PARAMS.get(base_name)
            if element is None or modifier not in ("", "exact"):
                unknown = f"Unknown search parameter '{name}' for {req.resource_type}"
                if not req.lenient:
                    raise bad_request(unknown, name)
                ignored.append(name)
                notes.append(
                    warning("not-supported", f"Ignored: {unknown}", name, "unknown-parameter")
                )
                continue
            wanted = value.split(",")
            if base_name == "name" and not modifier:
                matches = [
                    m
                    for m in matches
                    if any(str(m.get("name", "")).lower().startswith(w.lower()) for w in wanted)
                ]
            else:
                matches = [m for m in matches if str(m.get(element, "")) in wanted]
        entries = [
            {
                "fullUrl": f"{base_url}/{m['resourceType']}/{m['id']}",
                "resource": m,
                "search": {"mode": "match"},
            }
            for m in sorted(matches, key=lambda m: str(m["id"]))
        ]
        total = len(entries)
        if notes:
            entries.append(outcome_entry(notes))
        used = req.without(tuple(ignored))
        return Result(
            200,
            body=bundle(
                "searchset", entries, total=total, link=links(self=page_url(base_url, used))
            ),
        )

    def profiles_by_type(self) -> dict[str, list[str]]:
        """Our StructureDefinition URLs per type (CapabilityStatement.supportedProfile)."""
        result: dict[str, list[str]] = {}
        for sd in self._by_type.get("StructureDefinition", {}).values():
            if sd.get("kind") == "resource" and sd.get("type") and sd.get("url"):
                result.setdefault(sd["type"], []).append(sd["url"])
        return {k: sorted(v) for k, v in result.items()}

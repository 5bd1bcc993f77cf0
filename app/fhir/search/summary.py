"""`_summary` and `_elements` applied to one resource (R4 search.html#summary, #elements).

A subsetted resource is marked with the SUBSETTED tag (R4 v3-ObservationValue),
so a client never mistakes it for the complete resource.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cache
from typing import Any

from app.fhir.validation import get_model_class

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "Resource encoded in summary mode",
}
_ALWAYS = frozenset({"resourceType", "id", "meta"})


@cache
def _flagged(resource_type: str, flag: str) -> frozenset[str]:
    """Top-level JSON keys of `resource_type` whose field metadata sets `flag`."""
    model = get_model_class(resource_type)
    if model is None:
        return frozenset()
    keys = set()
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if extra.get(flag):
            keys.add(field.alias or name)
    return frozenset(keys)


def _base(key: str) -> str:
    return key[1:] if key.startswith("_") else key


def _choice_root(key: str, names: Sequence[str] | frozenset[str]) -> bool:
    """`onsetDateTime` belongs to requested element `onset` (R4 choice types)."""
    return any(key.startswith(n) and key[len(n) : len(n) + 1].isupper() for n in names)


def _keep(resource: dict[str, Any], wanted: frozenset[str]) -> dict[str, Any]:
    kept = {}
    for key, value in resource.items():
        base = _base(key)
        if base in wanted or base in _ALWAYS or _choice_root(base, wanted):
            kept[key] = value
    return kept


def _mark(resource: dict[str, Any]) -> dict[str, Any]:
    meta = copy.deepcopy(resource.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if t.get("code") != "SUBSETTED"]
    meta["tag"] = [*tags, dict(SUBSETTED)]
    return {**resource, "meta": meta}


def apply_summary(
    resource: dict[str, Any], summary: str | None = None, elements: Sequence[str] = ()
) -> dict[str, Any]:
    """`resource` reduced per `_summary` (true|text|data|false) or `_elements`; marked SUBSETTED."""
    rtype = str(resource.get("resourceType", ""))
    required = _flagged(rtype, "element_required")
    if summary == "true":
        return _mark(_keep(resource, _flagged(rtype, "summary_element_property")))
    if summary == "text":
        return _mark(_keep(resource, required | {"text"}))
    if summary == "data":
        return _mark({k: v for k, v in resource.items() if k != "text"})
    if elements and summary in (None, "false"):
        return _mark(_keep(resource, frozenset(elements) | required))
    return resource

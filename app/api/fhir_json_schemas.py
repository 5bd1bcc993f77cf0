"""JSON Schemas of FHIR JSON for the OpenAPI document (R4 json.html).

The resource schemas come from the same fhir.resources R4B models that validate requests,
adjusted to what goes over the wire: `resourceType` is required and names the type, no
element is `null` (json.html: "null values are not allowed"), and dates carry no
`date-time` format, since FHIR `date`/`dateTime` allow partial precision (`2026`,
`2026-03`; datatypes.html#dateTime) that RFC 3339 does not. OperationOutcome and Bundle,
which every error and every search answers with, are written out element by element.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic.json_schema import models_json_schema

from app.fhir.resource_types import REGISTRY

_REF = "#/components/schemas/{model}"
# Keys fhir.resources adds for its own use; no JSON Schema keyword.
_PRIVATE_KEYS = frozenset(
    {
        "element_property",
        "element_required",
        "summary_element_property",
        "enum_reference_types",
        "enum_values",
        "one_of_many",
        "one_of_many_required",
        "default",
    }
)
_NULL = {"type": "null"}
_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}
_CODING = {
    "type": "object",
    "properties": {"system": _STRING, "version": _STRING, "code": _STRING, "display": _STRING},
}
_CODEABLE = {
    "type": "object",
    "properties": {"coding": {"type": "array", "items": _CODING}, "text": _STRING},
}
_RESOURCE = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": _STRING},
}


def _wire(node: Any) -> Any:
    """A fhir.resources schema node as FHIR JSON has it (no nulls, no date formats)."""
    if isinstance(node, list):
        return [_wire(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _wire(v) for k, v in node.items() if k not in _PRIVATE_KEYS}
    if "anyOf" in out:
        options = [o for o in out["anyOf"] if o != _NULL]
        if len(options) == 1:
            del out["anyOf"]
            out.update(options[0])
        else:
            out["anyOf"] = options
    if out.get("format") in ("date-time", "date", "time"):
        del out["format"]
    return out


def _resource_schema(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    properties = {"resourceType": {"const": name}, **schema.get("properties", {})}
    properties.pop("fhir_comments", None)
    return {
        **schema,
        "properties": properties,
        "required": ["resourceType", *schema.get("required", [])],
    }


def _written_out(name: str, required: str, **elements: Any) -> dict[str, Any]:
    """A resource schema written element by element (R4 <name>.html)."""
    return {
        "title": name,
        "description": f"R4 {name.lower()}.html",
        "type": "object",
        "required": ["resourceType", required],
        "properties": {
            "resourceType": {"const": name},
            "id": _STRING,
            "meta": {"type": "object"},
            **elements,
        },
    }


OPERATION_OUTCOME = _written_out(
    "OperationOutcome",
    "issue",
    text={"type": "object"},
    issue={
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["severity", "code"],
            "properties": {
                "severity": {"enum": ["fatal", "error", "warning", "information"]},
                "code": _STRING,
                "details": _CODEABLE,
                "diagnostics": _STRING,
                "location": _STRINGS,
                "expression": _STRINGS,
                "extension": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
)

_BUNDLE_TYPES = [
    "document",
    "message",
    "transaction",
    "transaction-response",
    "batch",
    "batch-response",
    "history",
    "searchset",
    "collection",
]
_ENTRY_REQUEST = {
    "type": "object",
    "required": ["method", "url"],
    "properties": {
        "method": {"enum": ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]},
        "url": _STRING,
        "ifNoneMatch": _STRING,
        "ifModifiedSince": _STRING,
        "ifMatch": _STRING,
        "ifNoneExist": _STRING,
    },
}
_ENTRY_RESPONSE = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": _STRING,
        "location": _STRING,
        "etag": _STRING,
        "lastModified": _STRING,
        "outcome": {"$ref": "#/components/schemas/OperationOutcome"},
    },
}
BUNDLE = _written_out(
    "Bundle",
    "type",
    type={"enum": _BUNDLE_TYPES},
    timestamp=_STRING,
    total={"type": "integer", "minimum": 0},
    link={
        "type": "array",
        "items": {
            "type": "object",
            "required": ["relation", "url"],
            "properties": {"relation": _STRING, "url": _STRING},
        },
    },
    entry={
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "fullUrl": _STRING,
                "resource": _RESOURCE,
                "search": {
                    "type": "object",
                    "properties": {
                        "mode": {"enum": ["match", "include", "outcome"]},
                        "score": {"type": "number"},
                    },
                },
                "request": _ENTRY_REQUEST,
                "response": _ENTRY_RESPONSE,
            },
        },
    },
)


@cache
def component_schemas() -> dict[str, Any]:
    """JSON Schemas of every supported resource type, CapabilityStatement, Parameters (the
    POST form of operations), Bundle and OperationOutcome."""
    models = [
        get_fhir_model_class(name) for name in (*REGISTRY, "CapabilityStatement", "Parameters")
    ]
    _, schema = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    schemas = {
        name: _resource_schema(name, _wire(definition))
        for name, definition in schema.get("$defs", {}).items()
    }
    return {**schemas, "Bundle": BUNDLE, "OperationOutcome": OPERATION_OUTCOME}

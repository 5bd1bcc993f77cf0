"""OpenAPI documentation of the FHIR routes: real request/response schemas per type.

The schemas come from the same fhir.resources R4B models that validate requests.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic.json_schema import models_json_schema

from app.fhir.resource_types import REGISTRY

_WRAPPERS = ("Bundle", "OperationOutcome", "CapabilityStatement", "Parameters")
_REF = "#/components/schemas/{model}"
FHIR_MEDIA = "application/fhir+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(name: str) -> dict[str, Any]:
    return {FHIR_MEDIA: {"schema": _ref(name)}}


@cache
def component_schemas() -> dict[str, Any]:
    """JSON Schemas of every supported resource type plus Bundle and OperationOutcome."""
    models = [get_fhir_model_class(name) for name in (*REGISTRY, *_WRAPPERS)]
    _, schema = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    return dict(schema.get("$defs", {}))


_ERRORS = {
    "400": "Bad request (OperationOutcome names the element)",
    "401": "Missing or invalid bearer token",
    "403": "Forbidden by the authorization rules",
    "404": "Unknown or not visible",
    "412": "Precondition failed (stale If-Match, several conditional matches)",
    "422": "Violates a profile",
}

_SUMMARIES = {
    "search": ("Search {t}", "Bundle"),
    "create": ("Create a {t} (If-None-Exist for conditional create)", None),
    "conditional-update": ("Update the {t} matching the search criteria", None),
    "conditional-patch": ("JSON-Patch the {t} matching the search criteria", None),
    "conditional-delete": ("Delete the {t} matching the search criteria", "OperationOutcome"),
    "history-type": ("History of all {t} resources", "Bundle"),
    "read": ("Read the current {t}", None),
    "update": ("Update a {t} (update-as-create with a client id is allowed)", None),
    "patch": ("JSON-Patch a {t}", None),
    "delete": ("Delete a {t} (logical; history keeps it)", "OperationOutcome"),
    "history-instance": ("History of one {t}", "Bundle"),
    "vread": ("Read one version of a {t}", None),
    "transaction": ("Process a batch or transaction Bundle", "Bundle"),
    "history-system": ("History of all resources", "Bundle"),
    "search-system": ("Search several types (_type) at once", "Bundle"),
    "everything": (
        "Patient/$everything: what the caller may see of the patient's compartment "
        "(_since, _type, _count; POST takes Parameters)",
        "Bundle",
    ),
    "validate": (
        "Validate a {t} against the base spec and our profiles (?profile=); 200 with the issues",
        "OperationOutcome",
    ),
    "rehabilitation-outcomes": (
        "Quality data: the calling municipality's rehabilitation outcomes per quarter "
        "(from, to: e.g. 2026-Q1; query or Parameters body), small counts suppressed",
        "Parameters",
    ),
}


# Interactions whose request body is not the resource type of the route.
_REQUEST_BODIES = {"rehabilitation-outcomes": "Parameters", "everything": "Parameters"}


def route_docs(resource_type: str | None, interaction: str, method: str) -> dict[str, Any]:
    """FastAPI add_api_route keyword arguments documenting one FHIR route."""
    summary, response_model = _SUMMARIES[interaction]
    name = resource_type or "Bundle"
    response_schema = response_model or name
    responses: dict[int | str, dict[str, Any]] = {
        "200": {"description": "OK", "content": _content(response_schema)},
        **{
            code: {"description": text, "content": _content("OperationOutcome")}
            for code, text in _ERRORS.items()
        },
    }
    if interaction in ("create", "update", "conditional-update"):
        responses["201"] = {"description": "Created", "content": _content(name)}
    extra: dict[str, Any] = {}
    if method in ("POST", "PUT") and interaction != "search":
        body = _REQUEST_BODIES.get(interaction, name)
        extra["requestBody"] = {"required": True, "content": _content(body)}
    elif method == "PATCH":
        extra["requestBody"] = {
            "required": True,
            "content": {
                "application/json-patch+json": {
                    "schema": {"type": "array", "items": {"type": "object"}}
                }
            },
        }
    elif interaction == "search" and method == "POST":
        extra["requestBody"] = {
            "required": False,
            "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
        }
    return {
        "summary": summary.format(t=resource_type or "resources"),
        "tags": [resource_type or "System"],
        "responses": responses,
        "openapi_extra": extra,
        "include_in_schema": True,
    }

"""Base-spec validation of a resource with fhir.resources' R4B models.

The models check structure and datatypes but accept any string for a `code`
with a required binding (`CarePlan.status = "bogus"`) and any reference target,
so both are checked here from the models' own element metadata.
See R4 terminologies.html#required and references.html.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError

from app.fhir.json_limits import string_issue
from app.fhir.outcome import FhirError, Issue, error
from app.fhir.validation_messages import Described, describe

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_RELATIVE_REFERENCE = re.compile(
    r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/[A-Za-z0-9\-.]{1,64})?$"
)

# Required bindings on CodeableConcept elements, which the models cannot see.
_REQUIRED_CONCEPT_BINDINGS: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("Condition", "clinicalStatus"): (
        "http://terminology.hl7.org/CodeSystem/condition-clinical",
        frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"}),
    ),
    ("Condition", "verificationStatus"): (
        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
        frozenset(
            {
                "unconfirmed",
                "provisional",
                "differential",
                "confirmed",
                "refuted",
                "entered-in-error",
            }
        ),
    ),
}


def is_valid_id(value: str) -> bool:
    """R4 datatypes.html#id: 1-64 of [A-Za-z0-9-.]."""
    return bool(_ID.match(value))


def parse_reference(reference: str) -> tuple[str, str] | None:
    """`Type/id` (optionally with `/_history/v`) → (type, id); None otherwise."""
    match = _RELATIVE_REFERENCE.match(reference)
    return (match["type"], match["id"]) if match else None


@dataclass(frozen=True, slots=True)
class _Element:
    enum_values: frozenset[str] | None
    reference_types: frozenset[str] | None
    child: type[BaseModel] | None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside Optional[List[Annotated[Model, ...]]], if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    # fhir.resources wraps element models in ABC "type" proxies with get_model_klass().
    get_klass = getattr(annotation, "get_model_klass", None)
    if get_klass is not None:
        klass = get_klass()
        return klass if isinstance(klass, type) and issubclass(klass, BaseModel) else None
    origin = typing.get_origin(annotation)
    if origin is None:
        return None
    for arg in typing.get_args(annotation):
        if arg is types.NoneType:
            continue
        found = _model_in(arg)
        if found is not None:
            return found
    return None


@cache
def _elements(model: type[BaseModel]) -> dict[str, _Element]:
    """Per JSON key of `model`: its required-binding codes, reference targets, child model."""
    table: dict[str, _Element] = {}
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        enum_values = extra.get("enum_values")
        ref_types = extra.get("enum_reference_types")
        child = _model_in(field.annotation)
        if not (enum_values or ref_types or child):
            continue
        table[field.alias or name] = _Element(
            frozenset(typing.cast(list[str], enum_values)) if enum_values else None,
            frozenset(typing.cast(list[str], ref_types)) if ref_types else None,
            child,
        )
    return table


def _walk(data: Any, model: type[BaseModel], path: str, owner: str) -> Iterator[Issue]:
    if not isinstance(data, dict):
        return
    elements = _elements(model)
    for key, value in data.items():
        element = elements.get(key)
        if element is None:
            continue
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            item_path = f"{path}.{key}[{index}]" if isinstance(value, list) else f"{path}.{key}"
            if (
                element.enum_values is not None
                and isinstance(item, str)
                and item not in element.enum_values
            ):
                yield error(
                    "code-invalid",
                    f"'{item}' is not a valid code for {item_path}: expected one of "
                    + ", ".join(sorted(element.enum_values)),
                    item_path,
                    rule="required-binding",
                )
            if element.reference_types is not None and isinstance(item, dict):
                yield from _check_reference(item, element.reference_types, item_path)
            if element.child is not None:
                yield from _walk(item, element.child, item_path, owner)


def _check_reference(item: dict[str, Any], allowed: frozenset[str], path: str) -> Iterator[Issue]:
    reference = item.get("reference")
    if not isinstance(reference, str):
        return
    if reference.startswith(("#", "urn:uuid:", "urn:oid:")) or "://" in reference:
        return
    parsed = parse_reference(reference)
    if parsed is None:
        yield error(
            "invalid",
            f"'{reference}' is not a valid reference: expected Type/id, an absolute URL, "
            "urn:uuid: or #contained",
            f"{path}.reference",
            rule="ref-1",
        )
        return
    target_type = parsed[0]
    if "Resource" not in allowed and target_type not in allowed:
        yield error(
            "invalid",
            f"{path} may not reference a {target_type}: allowed are " + ", ".join(sorted(allowed)),
            f"{path}.reference",
            rule="reference-target",
        )
    elif get_model_class(target_type) is None:
        yield error(
            "invalid", f"'{target_type}' is not a FHIR resource type", f"{path}.reference", "ref-1"
        )


def _check_concept_bindings(resource_type: str, data: dict[str, Any]) -> Iterator[Issue]:
    for (owner, key), (system, codes) in _REQUIRED_CONCEPT_BINDINGS.items():
        if owner != resource_type or key not in data:
            continue
        path = f"{owner}.{key}"
        codings = [c for c in data[key].get("coding", []) if isinstance(c, dict)]
        bound = [c for c in codings if c.get("system") == system]
        if not bound:
            yield error(
                "code-invalid",
                f"{path} must have a coding from {system} (required binding)",
                f"{path}.coding",
                rule="required-binding",
            )
        for coding in bound:
            if coding.get("code") not in codes:
                yield error(
                    "code-invalid",
                    f"'{coding.get('code')}' is not in {system}: expected one of "
                    + ", ".join(sorted(codes)),
                    f"{path}.coding[{codings.index(coding)}].code",
                    rule="required-binding",
                )


def get_model_class(resource_type: str) -> type[BaseModel] | None:
    try:
        return typing.cast(type[BaseModel], get_fhir_model_class(resource_type))
    except (KeyError, ValueError, AttributeError, ImportError):
        return None


def validate_resource(data: Any, expected_type: str | None = None) -> list[Issue]:
    """All base-spec problems of `data` as OperationOutcome issues (empty when valid)."""
    if not isinstance(data, dict):
        return [error("structure", "A FHIR resource must be a JSON object", rule="structure")]
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str):
        return [error("required", "resourceType is missing", "resourceType", "structure")]
    if expected_type is not None and resource_type != expected_type:
        return [
            error(
                "invalid",
                f"resourceType '{resource_type}' does not match the URL's type '{expected_type}'",
                "resourceType",
                "structure",
            )
        ]
    model = get_model_class(resource_type)
    if model is None:
        return [error("not-supported", f"Unknown resource type '{resource_type}'", "resourceType")]
    # The models accept control characters and NUL, which PostgreSQL cannot even store.
    bad_string = string_issue(data)
    if bad_string is not None:
        return [bad_string]
    if "id" in data and not (isinstance(data["id"], str) and is_valid_id(data["id"])):
        return [
            error("value", "id must be 1-64 characters of A-Z a-z 0-9 - .", f"{resource_type}.id")
        ]
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [_issue(describe(err, resource_type)) for err in exc.errors()]
    except KeyError:  # the models look nested resource types up by name
        return [_unknown_nested_type(data, resource_type)]
    except (ValueError, TypeError) as exc:  # model validators raising plain errors
        return [error("value", f"{resource_type}: {exc}", resource_type, "structure")]
    issues = list(_walk(data, model, resource_type, resource_type))
    issues.extend(_check_concept_bindings(resource_type, data))
    return issues


def _issue(described: Described) -> Issue:
    return error(described.code, described.diagnostics, described.expression, "structure")


def _unknown_nested_type(data: dict[str, Any], resource_type: str) -> Issue:
    """The first nested resource (contained, Bundle.entry.resource) of an unknown type."""
    stack: list[tuple[Any, str]] = [(data, resource_type)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            kind = node.get("resourceType")
            if path != resource_type and isinstance(kind, str) and get_model_class(kind) is None:
                return error(
                    "not-supported",
                    f"{path}.resourceType: '{kind}' is not an R4 resource type",
                    f"{path}.resourceType",
                    "structure",
                )
            stack.extend((v, f"{path}.{k}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))
    return error("not-supported", f"{resource_type}: an unknown nested resource type", None)


def require_valid(data: Any, expected_type: str | None = None) -> dict[str, Any]:
    """`data` if valid, else a 400 FhirError listing every issue."""
    issues = validate_resource(data, expected_type)
    if any(i.severity in ("error", "fatal") for i in issues):
        raise FhirError(400, issues)
    return typing.cast(dict[str, Any], data)

"""Which modifiers a parameter takes and how one value parses, by parameter type
(R4 search.html#modifiers); each type's own rules are in types/."""

from __future__ import annotations

from app.fhir.outcome import FhirError, bad_request
from app.fhir.search.registry import SearchParam, reference_targets
from app.fhir.search.syntax import unescape
from app.fhir.search.types import SEARCH_TYPES, TokenValue, Value, ValueContext
from app.fhir.search.types.reference import is_type_modifier

_KNOWN_MODIFIERS = frozenset(
    {
        "missing",
        "exact",
        "contains",
        "text",
        "not",
        "above",
        "below",
        "in",
        "not-in",
        "of-type",
        "identifier",
        "type",
        "iterate",
    }
)


def check_modifier(param: SearchParam, name: str, modifier: str | None) -> None:
    if modifier is None or modifier in SEARCH_TYPES[param.type].modifiers:
        if modifier == "of-type" and param.name != "identifier":
            raise bad_request(f":of-type applies to identifier parameters only ('{name}')", name)
        return
    if param.type == "reference" and is_type_modifier(modifier):
        if modifier not in reference_targets(param) and "Any" not in param.targets:
            raise bad_request(f"'{modifier}' is not a target type of '{param.name}'", name)
        return
    if modifier in _KNOWN_MODIFIERS:
        raise FhirError.of(
            400, "not-supported", f"Modifier :{modifier} is not supported on '{name}'", name
        )
    raise bad_request(f"Unknown modifier :{modifier} on '{name}'", name)


def parse_value(raw: str, ctx: ValueContext) -> Value | None:
    """One value of `ctx.param`; None when no row can match it (a foreign code system)."""
    if ctx.param.name == "_id":  # a column of the resource: the id as written
        return TokenValue(None, unescape(raw))
    parsed: Value | None = SEARCH_TYPES[ctx.param.type].parse(raw, ctx)
    return parsed

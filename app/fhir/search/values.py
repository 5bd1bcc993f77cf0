"""Parsing one parameter's value list by parameter type (R4 search.html#ptypes, #escaping)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

from app.fhir.outcome import FhirError, bad_request
from app.fhir.search.dates import date_range
from app.fhir.search.extract import clip
from app.fhir.search.model import (
    DatePrefix,
    DateValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
    Value,
)
from app.fhir.search.normalise import normalise
from app.fhir.search.registry import SearchParam, reference_targets
from app.fhir.validation import is_valid_id, parse_reference

PREFIXES = frozenset({"eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap"})
MODIFIERS: dict[str, frozenset[str]] = {
    "token": frozenset({"missing", "not", "text", "of-type"}),
    "string": frozenset({"missing", "exact", "contains"}),
    "date": frozenset({"missing"}),
    "reference": frozenset({"missing", "identifier"}),
    "uri": frozenset({"missing", "below"}),
}
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
_CANONICAL_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*:", re.IGNORECASE)


def split_unescaped(value: str, separator: str) -> list[str]:
    """Split on `separator` not preceded by a backslash (R4 search.html#escaping)."""
    parts, current, index = [], "", 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            current += value[index : index + 2]
            index += 2
            continue
        if char == separator:
            parts.append(current)
            current = ""
        else:
            current += char
        index += 1
    parts.append(current)
    return parts


def unescape(value: str) -> str:
    return re.sub(r"\\([,$|\\])", r"\1", value)


def check_modifier(param: SearchParam, name: str, modifier: str | None) -> None:
    if modifier is None or modifier in MODIFIERS[param.type]:
        if modifier == "of-type" and param.name != "identifier":
            raise bad_request(f":of-type applies to identifier parameters only ('{name}')", name)
        return
    if param.type == "reference" and modifier[:1].isupper():
        if modifier not in reference_targets(param) and "Any" not in param.targets:
            raise bad_request(f"'{modifier}' is not a target type of '{param.name}'", name)
        return
    if modifier in _KNOWN_MODIFIERS:
        raise FhirError.of(
            400, "not-supported", f"Modifier :{modifier} is not supported on '{name}'", name
        )
    raise bad_request(f"Unknown modifier :{modifier} on '{name}'", name)


def _token(name: str, raw: str, param: SearchParam, modifier: str | None) -> Value:
    parts = split_unescaped(raw, "|")
    if modifier == "text":
        return TokenValue(None, normalise(unescape(raw)))
    if modifier == "of-type":
        if len(parts) != 3 or not all(parts):
            raise bad_request(f"'{name}' expects system|code|value", name)
        system, code, value = (unescape(p) for p in parts)
        return TokenValue(clip(system, 255), clip(f"{code}|{value}", 255))
    if len(parts) == 1:
        return TokenValue(None, clip(unescape(parts[0]), 255))
    if len(parts) != 2:
        raise bad_request(f"'{name}' expects [system|]code", name)
    system, code = unescape(parts[0]), unescape(parts[1])
    if not system and not code:
        raise bad_request(f"'{name}' needs a system or a code", name)
    return TokenValue(clip(system, 255) or None, clip(code, 255) or None, no_system=not system)


def _string(name: str, raw: str, param: SearchParam, modifier: str | None) -> Value:
    text = unescape(raw)
    return StringValue(text[:512], normalise(text))


def _date(name: str, raw: str, param: SearchParam, modifier: str | None) -> Value:
    prefix = "eq"
    if raw[:2].isalpha():
        prefix, raw = raw[:2], raw[2:]
        if prefix not in PREFIXES:
            raise bad_request(f"Unknown date prefix '{prefix}' in '{name}'", name)
    try:
        low, high = date_range(raw)
    except (ValueError, OverflowError) as exc:
        raise bad_request(f"Invalid date in '{name}': {exc}", name) from exc
    return DateValue(cast(DatePrefix, prefix), low, high)


def _uri(name: str, raw: str, param: SearchParam, modifier: str | None) -> Value:
    return UriValue(unescape(raw)[:1024])


def parse_reference_value(
    name: str, raw: str, param: SearchParam, type_modifier: str | None, base_url: str
) -> ReferenceValue:
    """`id`, `Type/id`, our absolute URL (base stripped) or a foreign/canonical URL."""
    value = unescape(raw)
    base = base_url.rstrip("/") + "/"
    if base_url and value.startswith(base):
        value = value[len(base) :]
    targets = reference_targets(param)
    parsed = parse_reference(value)
    if parsed:
        target_type, target_id = parsed
        if type_modifier and target_type != type_modifier:
            raise bad_request(f"'{value}' contradicts the :{type_modifier} modifier", name)
        if "Any" not in param.targets and target_type not in targets:
            raise bad_request(f"'{param.name}' cannot refer to a {target_type}", name)
        return ReferenceValue(target_type, target_id)
    if is_valid_id(value):
        only = type_modifier or (targets[0] if len(targets) == 1 else None)
        return ReferenceValue(only, value)
    if _CANONICAL_SCHEME.match(value) and " " not in value:
        return ReferenceValue(None, None, value[:1024])
    raise bad_request(f"'{raw}' is not a reference (id, Type/id or URL) in '{name}'", name)


ValueParser = Callable[[str, str, SearchParam, "str | None"], Value]
VALUE_PARSERS: dict[str, ValueParser] = {
    "token": _token,
    "string": _string,
    "date": _date,
    "uri": _uri,
}

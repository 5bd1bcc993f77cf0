"""Reference: by id, `Type/id`, our absolute URL or a foreign/canonical URL over
Reference and canonical (R4 search.html#reference), with :[Type] and :identifier.
Chains and `_has` follow references to other resources: they are not a row match."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from app.fhir.outcome import bad_request
from app.fhir.search.paths import reference_type
from app.fhir.search.registry import SearchParam, reference_targets
from app.fhir.search.syntax import unescape
from app.fhir.search.types import token
from app.fhir.search.types.base import Row, SearchType, ValueContext, clip
from app.fhir.search.types.token import TokenValue
from app.fhir.validation import is_valid_id, parse_reference

_CANONICAL_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*:", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    """A local target (type may be None for a bare id) or a foreign/canonical url."""

    type: str | None
    id: str | None
    url: str | None = None


def is_type_modifier(modifier: str | None) -> bool:
    """`subject:Patient`: a target type, not a modifier of the match."""
    return bool(modifier) and modifier[:1].isupper()  # type: ignore[index]


def parse(raw: str, ctx: ValueContext) -> ReferenceValue | TokenValue | None:
    if ctx.modifier == "identifier":
        return token.parse(raw, replace(ctx, modifier=None))
    type_modifier = ctx.modifier if is_type_modifier(ctx.modifier) else None
    return parse_reference_value(ctx.name, raw, ctx.param, type_modifier, ctx.base_url)


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


def rows(param: str, value: Any) -> Iterator[Row]:
    if isinstance(value, str):  # canonical
        url, _, version = value.partition("|")
        yield {"target_url": clip(url, 1024)}
        if version:
            yield {"target_url": clip(value, 1024)}
        return
    if not isinstance(value, dict):
        return
    row: Row = {}
    literal = value.get("reference")
    if isinstance(literal, str) and not literal.startswith("#"):
        parsed = parse_reference(literal)
        if parsed:
            row["target_type"], row["target_id"] = parsed
        else:
            row["target_url"] = clip(literal, 1024)
    if "target_type" not in row:
        declared = reference_type(value)
        if declared:
            row["target_type"] = declared
    ident = value.get("identifier")
    if isinstance(ident, dict) and isinstance(ident.get("value"), str):
        row["ident_system"] = clip(ident.get("system"), 255)
        row["ident_value"] = clip(ident["value"], 255)
    if row.get("target_id") or row.get("target_url") or row.get("ident_value"):
        yield row


def matches(row: Row, v: ReferenceValue | TokenValue, modifier: str | None) -> bool:
    if isinstance(v, TokenValue):  # :identifier
        return token.code_matches(row["ident_system"], row["ident_value"], v)
    if v.url is not None:
        return bool(row["target_url"] == v.url)
    if row["target_id"] != v.id:
        return False
    return v.type is None or row["target_type"] == v.type


TYPE = SearchType(
    name="reference",
    modifiers=frozenset({"missing", "identifier"}),
    columns=("target_type", "target_id", "target_url", "ident_system", "ident_value"),
    parse=parse,
    rows=rows,
    matches=matches,
)

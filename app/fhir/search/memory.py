"""A small in-memory matcher for the conformance resources served from files
(StructureDefinition, CodeSystem, ValueSet, OperationDefinition): same parser, same index
rows, no SQL.
Supports token, string, uri, date and `_id` filters; chains and `_has` are a 400.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.fhir.outcome import bad_request
from app.fhir.search.extract import OF_TYPE_SUFFIX, Row, extract_index
from app.fhir.search.model import (
    Criterion,
    DateValue,
    Filter,
    SearchRequest,
    StringValue,
    TokenValue,
    UriValue,
    Value,
)


def _token(row: Row, v: Value, f: Filter) -> bool:
    assert isinstance(v, TokenValue)
    if f.modifier == "text":
        return bool(row["text"] and row["text"].startswith(v.code or ""))
    if v.code is not None and row["code"] != v.code:
        return False
    if v.no_system:
        return row["system"] is None
    return v.system is None or row["system"] == v.system


def _string(row: Row, v: Value, f: Filter) -> bool:
    assert isinstance(v, StringValue)
    if f.modifier == "exact":
        return bool(row["value_exact"] == v.exact)
    if f.modifier == "contains":
        return v.norm in row["value_norm"]
    return bool(row["value_norm"].startswith(v.norm))


def _uri(row: Row, v: Value, f: Filter) -> bool:
    assert isinstance(v, UriValue)
    return bool(row["uri"].startswith(v.uri) if f.modifier == "below" else row["uri"] == v.uri)


def _date(row: Row, v: Value, f: Filter) -> bool:
    assert isinstance(v, DateValue)
    low, high = row["low"], row["high"]
    contained = low is not None and high is not None and low >= v.low and high <= v.high
    above = high is None or high > v.high
    below = low is None or low < v.low
    overlap = (low is None or low < v.high) and (high is None or high > v.low)
    return {
        "eq": contained,
        "ne": not contained,
        "gt": above,
        "lt": below,
        "ge": above or contained,
        "le": below or contained,
        "sa": low is not None and low >= v.high,
        "eb": high is not None and high <= v.low,
        "ap": overlap,
    }[v.prefix]


_MATCHERS = {"token": _token, "string": _string, "uri": _uri, "date": _date}


def _matches(resource: dict[str, Any], f: Criterion) -> bool:
    if not isinstance(f, Filter) or f.type == "reference":
        raise bad_request(f"'{f.name}' is not supported for this resource type", f.name)
    if f.param == "_id":
        hit = any(isinstance(v, TokenValue) and v.code == resource.get("id") for v in f.values)
        return not hit if f.modifier == "not" else hit
    tables = extract_index(resource).tables()
    param = f.param + OF_TYPE_SUFFIX if f.modifier == "of-type" else f.param
    rows = [r for r in tables.get(f.type, []) if r["param"] == param]
    if f.modifier == "missing":
        return not rows if f.missing else bool(rows)
    hit = any(_MATCHERS[f.type](row, v, f) for row in rows for v in f.values)
    return not hit if f.modifier == "not" else hit


def search_in_memory(
    request: SearchRequest, resources: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The resources matching every criterion of `request` for their type, in input order."""
    found = []
    for item in resources:
        rtype = item.get("resourceType")
        if rtype in request.resource_types and all(
            _matches(item, c) for c in request.criteria_for(str(rtype))
        ):
            found.append(item)
    return found

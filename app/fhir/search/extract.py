"""Index rows of a resource, one list per index table (R4 search.html, per type).

What a parameter type indexes from each FHIR datatype follows R4 search.html:
token from code/boolean/Coding/CodeableConcept/Identifier/ContactPoint; string
from string/HumanName/Address; date from date/dateTime/instant/Period/Timing;
reference from Reference/canonical; uri from uri/canonical. `_id` and
`_lastUpdated` are columns of the resource table and are not indexed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.fhir.search.dates import date_range
from app.fhir.search.normalise import normalise
from app.fhir.search.paths import compile_expression, reference_type
from app.fhir.search.registry import SearchParam, compartment_params, search_params
from app.fhir.validation import parse_reference

Row = dict[str, Any]
NOT_INDEXED = frozenset({"_id", "_lastUpdated"})
OF_TYPE_SUFFIX = ":of-type"
_ABSOLUTE_TAIL = re.compile(
    r"/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/.*)?$"
)


def clip(value: str | None, size: int) -> str | None:
    """Values are clipped to the column size, on both the index and the query side."""
    return value[:size] if isinstance(value, str) else None


@dataclass
class IndexRows:
    """Rows for search_token/string/reference/date/uri (without res_pk/res_type)."""

    token: list[Row] = field(default_factory=list)
    string: list[Row] = field(default_factory=list)
    reference: list[Row] = field(default_factory=list)
    date: list[Row] = field(default_factory=list)
    uri: list[Row] = field(default_factory=list)
    compartment_patients: set[str] = field(default_factory=set)

    def tables(self) -> dict[str, list[Row]]:
        return {
            "token": self.token,
            "string": self.string,
            "reference": self.reference,
            "date": self.date,
            "uri": self.uri,
        }


def _token_rows(param: str, value: Any) -> Iterator[Row]:
    if isinstance(value, bool):
        yield {"system": None, "code": "true" if value else "false", "text": None}
    elif isinstance(value, str):
        yield {"system": None, "code": clip(value, 255), "text": None}
    elif isinstance(value, dict):
        if "coding" in value or ("text" in value and "value" not in value):
            text = value.get("text")
            for coding in value.get("coding") or []:
                if isinstance(coding, dict):
                    yield from _coding(coding, text)
            if isinstance(text, str):
                yield {"system": None, "code": None, "text": normalise(text)}
        elif "code" in value:
            yield from _coding(value, None)
        elif "value" in value:
            yield from _identifier(param, value)


def _coding(coding: dict[str, Any], fallback_text: Any) -> Iterator[Row]:
    display = coding.get("display") or fallback_text
    yield {
        "system": clip(coding.get("system"), 255),
        "code": clip(coding.get("code"), 255),
        "text": normalise(display) if isinstance(display, str) else None,
    }


def _identifier(param: str, ident: dict[str, Any]) -> Iterator[Row]:
    value = ident.get("value")
    raw_type = ident.get("type")
    id_type: dict[str, Any] = raw_type if isinstance(raw_type, dict) else {}
    type_text = id_type.get("text")
    yield {
        "system": clip(ident.get("system"), 255),
        "code": clip(value, 255),
        "text": normalise(type_text) if isinstance(type_text, str) else None,
    }
    for coding in id_type.get("coding") or []:  # for :of-type (R4 search.html#modifiers)
        if isinstance(coding, dict) and isinstance(value, str):
            yield {
                "param": param + OF_TYPE_SUFFIX,
                "system": clip(coding.get("system"), 255),
                "code": clip(f"{coding.get('code')}|{value}", 255),
                "text": None,
            }


_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


def _string_values(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        parts = _NAME_PARTS if ("family" in value or "given" in value) else _ADDRESS_PARTS
        for key in parts:
            item = value.get(key)
            for text in item if isinstance(item, list) else [item]:
                if isinstance(text, str):
                    yield text


def _string_rows(value: Any) -> Iterator[Row]:
    for text in _string_values(value):
        yield {"value_norm": normalise(text), "value_exact": text[:512]}


def _ranges(value: Any) -> Iterator[tuple[datetime | None, datetime | None]]:
    try:
        if isinstance(value, str):
            yield date_range(value)
        elif isinstance(value, dict) and ("start" in value or "end" in value):
            start, end = value.get("start"), value.get("end")
            low = date_range(start)[0] if isinstance(start, str) else None
            high = date_range(end)[1] if isinstance(end, str) else None
            if low is not None or high is not None:
                yield low, high
        elif isinstance(value, dict):  # Timing: events and repeat.bounds[x]
            for event in value.get("event") or []:
                if isinstance(event, str):
                    yield date_range(event)
            bounds = (value.get("repeat") or {}).get("boundsPeriod")
            if isinstance(bounds, dict):
                yield from _ranges(bounds)
    except ValueError:
        return


def _date_rows(value: Any) -> Iterator[Row]:
    for low, high in _ranges(value):
        yield {"low": low, "high": high}


def _reference_rows(value: Any) -> Iterator[Row]:
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


def _uri_rows(value: Any) -> Iterator[Row]:
    if isinstance(value, str):
        yield {"uri": value[:1024]}


_BUILDERS = {
    "string": lambda p, v: _string_rows(v),
    "date": lambda p, v: _date_rows(v),
    "reference": lambda p, v: _reference_rows(v),
    "uri": lambda p, v: _uri_rows(v),
    "token": _token_rows,
}
_COLUMNS = {
    "token": ("system", "code", "text"),
    "string": ("value_norm", "value_exact"),
    "reference": ("target_type", "target_id", "target_url", "ident_system", "ident_value"),
    "date": ("low", "high"),
    "uri": ("uri",),
}


def _param_rows(param: SearchParam, resource: dict[str, Any]) -> list[Row]:
    extractor = compile_expression(resource["resourceType"], param.expression)
    rows: list[Row] = []
    for value in extractor(resource):
        for row in _BUILDERS[param.type](param.name, value):
            full = {c: row.get(c) for c in _COLUMNS[param.type]}
            full["param"] = row.get("param", param.name)
            rows.append(full)
    return rows


def _dedupe(rows: list[Row]) -> list[Row]:
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for row in rows:
        key = tuple(row.values())  # every row of a table has its columns in one order
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


def extract_index(resource: dict[str, Any]) -> IndexRows:
    """All index rows of `resource` for the parameters registered for its type."""
    resource_type = resource.get("resourceType")
    rows = IndexRows()
    if not isinstance(resource_type, str):
        return rows
    tables = rows.tables()
    for param in search_params(resource_type).values():
        if param.name in NOT_INDEXED:
            continue
        tables[param.type].extend(_param_rows(param, resource))
    for name, table in tables.items():
        table[:] = _dedupe(table)
        del name
    compartment = set(compartment_params(resource_type))
    rows.compartment_patients = {
        r["target_id"]
        for r in rows.reference
        if r["param"] in compartment and r["target_type"] == "Patient" and r["target_id"]
    }
    if resource_type == "Patient" and isinstance(resource.get("id"), str):
        rows.compartment_patients.add(resource["id"])
    return rows

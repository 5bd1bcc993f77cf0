"""Bulk Data Access 2.0 `$export` (hl7.org/fhir/uv/bulkdata/STU2/export.html): the kick-off
parameters, the criteria each exported type is read with, and the completion manifest.

Pure: the kick-off is parsed into an `ExportRequest` (400 naming the parameter for bad
input); `_typeFilter` queries go through the search parser, so an export filters exactly
as a search does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from app.fhir.instant import format_instant, parse_instant
from app.fhir.outcome import FhirError, bad_request
from app.fhir.primitives import printable
from app.fhir.resource_types import STORED_TYPES
from app.fhir.search.definitions import PATIENT_COMPARTMENT
from app.fhir.search.parse import parse_search
from app.fhir.validation import require_valid

Level = Literal["system", "patient"]
NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
# Not data an export carries: Subscriptions are their owner's settings, AuditEvents the
# citizen's log (organisations may not read them at all).
NOT_EXPORTED = frozenset({"Subscription", "AuditEvent"})
EXPORTABLE: dict[Level, tuple[str, ...]] = {
    "system": tuple(sorted(STORED_TYPES - NOT_EXPORTED)),
    # Patient/$export: the types of the patient compartment (R4 compartmentdefinition-patient).
    "patient": tuple(sorted(set(PATIENT_COMPARTMENT) - NOT_EXPORTED)),
}
# Kick-off parameters of the spec this server does not support: 400, or ignored with
# `Prefer: handling=lenient` (export.html#query-parameters).
_SEARCH_RESULT_PARAMS = frozenset(
    {"_include", "_revinclude", "_sort", "_count", "_summary", "_elements", "_total", "_contained"}
)
_TRANSPORT = frozenset({"_format", "_pretty"})
# `_typeFilter` is a comma-separated list of queries; a comma inside one (an ORed token)
# is followed by a value, never by `Type?`.
_QUERY_START = re.compile(r",(?=[A-Z][A-Za-z]*\?)")


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What a kick-off asks for."""

    level: Level
    types: tuple[str, ...]  # the types asked for (every exportable type when no _type)
    explicit_types: bool  # `_type` named them
    since: datetime | None = None
    type_filters: Mapping[str, str] = field(default_factory=dict)  # type -> search query
    ignored: tuple[str, ...] = ()

    def params(self, types: Sequence[str]) -> dict[str, Any]:
        """What the job keeps of the request (`types`: the ones it may read)."""
        return {
            "types": list(types),
            "since": format_instant(self.since) if self.since else None,
            "type_filters": dict(self.type_filters),
        }


def parameters_pairs(body: Any) -> list[tuple[str, str]]:
    """A POST kick-off's `Parameters` resource as (name, value) pairs (export.html#post);
    a body that is anything else (JSON null included) is a 400."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise bad_request("A POST kick-off takes a Parameters resource", "Parameters")
    require_valid(body, "Parameters")  # valid R4 first: a 400 naming the element otherwise
    pairs: list[tuple[str, str]] = []
    for index, parameter in enumerate(body.get("parameter") or []):
        where = f"Parameters.parameter[{index}]"
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
            raise bad_request("Each parameter needs a name", where)
        values = [v for k, v in parameter.items() if k.startswith("value")]
        if len(values) != 1 or not isinstance(values[0], str):
            raise bad_request(
                f"Parameter '{printable(parameter['name'])}' needs one string value "
                "(valueString, valueInstant)",
                where,
            )
        pairs.append((parameter["name"], values[0]))
    return pairs


def parse_kickoff(
    level: Level, params: Iterable[tuple[str, str]], *, base_url: str, lenient: bool
) -> ExportRequest:
    """The kick-off's parameters; 400 naming the parameter for anything not understood."""
    formats: list[str] = []
    types: list[str] = []
    filters: list[str] = []
    since: datetime | None = None
    ignored: list[str] = []
    for name, value in params:
        if name == "_outputFormat":
            formats.append(value)
        elif name == "_type":
            types += [t.strip() for t in value.split(",")]
        elif name == "_typeFilter":
            filters += [q for q in _QUERY_START.split(value) if q]
        elif name == "_since":
            since = _since(value)
        elif name in _TRANSPORT:
            continue
        elif lenient:
            ignored.append(name)
        else:
            raise FhirError.of(
                400,
                "not-supported",
                f"The $export parameter '{printable(name)}' is not supported",
                name,
            )
    for fmt in formats:
        if "+".join(fmt.split()) not in OUTPUT_FORMATS:  # an unencoded `+` arrives as a space
            raise FhirError.of(
                400,
                "not-supported",
                f"_outputFormat '{printable(fmt)}' is not supported: use {NDJSON}",
                "_outputFormat",
            )
    exportable = EXPORTABLE[level]
    for rtype in types:
        if rtype not in exportable:
            raise FhirError.of(
                400,
                "not-supported",
                f"_type '{printable(rtype)}' cannot be exported at this level",
                "_type",
            )
    chosen = tuple(dict.fromkeys(types)) if types else exportable
    return ExportRequest(
        level,
        chosen,
        bool(types),
        since,
        _type_filters(filters, chosen, base_url),
        tuple(ignored),
    )


def _since(value: str) -> datetime:
    try:
        return parse_instant(value.replace(" ", "+"))
    except ValueError:
        raise bad_request(
            f"_since '{printable(value)}' is not a FHIR instant (e.g. 2026-01-01T00:00:00Z)",
            "_since",
        ) from None


def _type_filters(queries: list[str], types: Sequence[str], base_url: str) -> dict[str, str]:
    """`Type?query` per type, each parsed as that type's search would be (400 if invalid)."""
    found: dict[str, str] = {}
    for raw in queries:
        rtype, mark, query = raw.partition("?")
        shown = printable(raw)
        if not mark or not query:
            raise bad_request(f"_typeFilter '{shown}' must be Type?query", "_typeFilter")
        if rtype not in types:
            raise bad_request(
                f"_typeFilter '{shown}': {printable(rtype)} is not among the exported types",
                "_typeFilter",
            )
        if rtype in found:
            raise FhirError.of(
                400,
                "not-supported",
                f"_typeFilter: one query per type ({rtype} has two); combine them in one",
                "_typeFilter",
            )
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise bad_request(
                f"_typeFilter '{shown}' is not a query string", "_typeFilter"
            ) from None
        used = sorted({name.split(":")[0] for name, _ in pairs} & _SEARCH_RESULT_PARAMS)
        if used:
            raise bad_request(
                f"_typeFilter '{shown}': {', '.join(used)} cannot filter an export", "_typeFilter"
            )
        try:
            parse_search([rtype], pairs, base_url=base_url, lenient=False)
        except FhirError as exc:
            raise bad_request(f"_typeFilter '{shown}': {exc}", "_typeFilter") from None
        found[rtype] = query
    return found


def type_criteria(
    params: Mapping[str, Any], rtype: str, transaction_time: datetime
) -> list[tuple[str, str]]:
    """The search criteria a job reads `rtype` with: its _typeFilter, _since, and nothing
    changed after the transaction time (export.html#response---complete-status)."""
    query = params.get("type_filters", {}).get(rtype)
    criteria = parse_qsl(query, keep_blank_values=True) if query else []
    criteria.append(("_lastUpdated", f"le{format_instant(transaction_time)}"))
    if params.get("since"):
        criteria.append(("_lastUpdated", f"gt{params['since']}"))
    return criteria


def manifest(
    *,
    transaction_time: datetime,
    request: str,
    output: Iterable[tuple[str, str, int]],
) -> dict[str, Any]:
    """The completion manifest: one file per type, `(type, url, count)`."""
    return {
        "transactionTime": format_instant(transaction_time),
        "request": request,
        "requiresAccessToken": True,
        "output": [{"type": t, "url": url, "count": count} for t, url, count in output],
        "error": [],
    }

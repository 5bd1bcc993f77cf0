"""The parsed search request: frozen dataclasses the SQL compiler and the in-memory
matcher consume (R4 search.html). The value classes belong to their types (types/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from app.fhir.outcome import Issue
from app.fhir.search.registry import ParamType
from app.fhir.search.types import DatePrefix as DatePrefix
from app.fhir.search.types import DateValue as DateValue
from app.fhir.search.types import ReferenceValue as ReferenceValue
from app.fhir.search.types import StringValue as StringValue
from app.fhir.search.types import TokenValue as TokenValue
from app.fhir.search.types import UriValue as UriValue
from app.fhir.search.types import Value as Value

TotalMode = Literal["none", "estimate", "accurate"]
SummaryMode = Literal["true", "text", "data", "count", "false"]


ANY_PATIENT = "*"  # SearchRequest.compartment: every patient's (not an R4 id, so no clash)


@dataclass(frozen=True, slots=True)
class Filter:
    """One parameter occurrence: its values are ORed; a request ANDs its criteria."""

    name: str  # as written, for OperationOutcome.issue.expression
    param: str  # the registry name (`_id`, `category`, ...)
    type: ParamType
    modifier: str | None  # missing not text exact contains identifier of-type below
    values: tuple[Value, ...] = ()
    missing: bool | None = None


@dataclass(frozen=True, slots=True)
class Chain:
    """`ref.param=...` (R4 search.html#chaining): per target type, a criterion on it."""

    name: str
    param: str
    targets: tuple[tuple[str, Criterion], ...]


@dataclass(frozen=True, slots=True)
class Has:
    """`_has:Source:ref:criterion` (R4 search.html#has): a Source pointing here matches."""

    name: str
    source_type: str
    param: str
    criterion: Criterion


Criterion = Filter | Chain | Has


@dataclass(frozen=True, slots=True)
class SortKey:
    param: str
    type: ParamType
    descending: bool


@dataclass(frozen=True, slots=True)
class Include:
    """`_include=Source:param[:Target]` or, reversed, `_revinclude=...`."""

    source_type: str
    param: str
    target_type: str | None
    iterate: bool


@dataclass(frozen=True, slots=True)
class SearchRequest:
    resource_types: tuple[str, ...]
    criteria: tuple[tuple[str, tuple[Criterion, ...]], ...]  # per resource type
    sort: tuple[SortKey, ...] = ()
    count: int = 50
    total: TotalMode | None = None  # None: the server default (see docs/search.md)
    summary: SummaryMode | None = None
    elements: tuple[str, ...] = ()
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    warnings: list[Issue] = field(default_factory=list, compare=False)
    # Parameter names ignored (lenient handling): left out of the self link.
    ignored: tuple[str, ...] = field(default=(), compare=False)
    query_key: str = ""  # canonical form of what selects rows; binds paging cursors
    # R4 compartment search: only resources in this Patient's compartment ($everything),
    # or, with ANY_PATIENT, in some patient's compartment (Patient/$export).
    compartment: str | None = None

    def criteria_for(self, resource_type: str) -> tuple[Criterion, ...]:
        for name, criteria in self.criteria:
            if name == resource_type:
                return criteria
        return ()

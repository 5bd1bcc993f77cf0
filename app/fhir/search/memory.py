"""The in-memory matcher: does a resource (as JSON) match parsed search criteria?

Same parser, same index rows (extract.py) and, per type, the row match of the type's
module (types/), so it answers as SQL search does on every parameter, modifier and
prefix (tests/search/test_agreement.py runs one table of cases through both). Chains and
`_has` need other resources: they raise `NeedsOtherResources` (a 400), never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.fhir.instant import parse_instant
from app.fhir.outcome import FhirError
from app.fhir.search.extract import OF_TYPE_SUFFIX, IndexRows, extract_index
from app.fhir.search.model import Criterion, DateValue, Filter, SearchRequest, TokenValue
from app.fhir.search.types import SEARCH_TYPES
from app.fhir.search.types.date import point_matches


class NeedsOtherResources(FhirError):
    """A criterion the matcher cannot decide from one resource (a chain, `_has`)."""


def _refuse(c: Criterion) -> FhirError:
    return NeedsOtherResources.of(
        400,
        "not-supported",
        f"'{c.name}' follows references to other resources; it cannot be matched "
        "against a single resource (chains and _has are search-only)",
        c.name,
        rule="in-memory-match",
    )


def _column(f: Filter, present: bool, hit: bool) -> bool:
    """A resource column (`_id`, `_lastUpdated`): `:missing`, `:not` and a plain match."""
    if f.modifier == "missing":
        return not present if f.missing else present
    return not hit if f.modifier == "not" else hit


def _last_updated(resource: dict[str, Any]) -> Any:
    stamp = (resource.get("meta") or {}).get("lastUpdated")
    try:
        return parse_instant(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None


def _filter(resource: dict[str, Any], index: IndexRows, f: Filter) -> bool:
    if f.param == "_id":
        rid = resource.get("id")
        hit = any(isinstance(v, TokenValue) and v.code == rid for v in f.values)
        return _column(f, True, hit)
    if f.param == "_lastUpdated":
        stamp = _last_updated(resource)
        hit = stamp is not None and any(
            point_matches(stamp, v) for v in f.values if isinstance(v, DateValue)
        )
        return _column(f, stamp is not None, hit)
    param = f.param + OF_TYPE_SUFFIX if f.modifier == "of-type" else f.param
    rows = index.of(f.type, param)
    if f.modifier == "missing":
        return not rows if f.missing else bool(rows)
    match = SEARCH_TYPES[f.type].matches
    hit = any(match(row, v, f.modifier) for row in rows for v in f.values)
    return not hit if f.modifier == "not" else hit


def check_matchable(criteria: Iterable[Criterion]) -> None:
    """Raise `NeedsOtherResources` for the first chain or `_has` among `criteria`."""
    for c in criteria:
        if not isinstance(c, Filter):
            raise _refuse(c)


def matches(resource: dict[str, Any], criteria: tuple[Criterion, ...]) -> bool:
    """True if `resource` matches every criterion (criteria for its own type)."""
    check_matchable(criteria)
    index = extract_index(resource)
    return all(_filter(resource, index, c) for c in criteria if isinstance(c, Filter))


def search_in_memory(
    request: SearchRequest, resources: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The resources matching every criterion of `request` for their type, in input order."""
    for rtype in request.resource_types:
        check_matchable(request.criteria_for(rtype))
    found = []
    for item in resources:
        kind = str(item.get("resourceType"))
        if kind in request.resource_types and matches(item, request.criteria_for(kind)):
            found.append(item)
    return found

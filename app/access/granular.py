"""Does a resource version lie within the granular SMART scopes of an interaction?

SMART v2 lets a scope carry search parameters (`system/CarePlan.cu?subject=Patient/x`,
scopes-and-launch-context.html#finer-grained-resource-constraints-using-search-parameters).
Reads filter on them in SQL (storage/access_sql.py); a write is decided here, from the
version itself, by the in-memory matcher that agrees with SQL search on every parameter
(tests/search/test_agreement.py), so both halves of the scope mean the same thing.
"""

from __future__ import annotations

from typing import Any

from app.access.decision import ParamFilter, RowFilter
from app.fhir.outcome import FhirError
from app.fhir.search import memory
from app.fhir.search.parse import parse_search


def within_granular_scope(
    f: RowFilter, resource_type: str, content: dict[str, Any], *, base_url: str
) -> bool:
    """True if `content` matches one of the granular filters of `f` (or `f` has none).

    A chain or `_has` cannot be decided from one version: `memory.NeedsOtherResources`,
    a 400, propagates (scope parsing never lets one through; this says so if it did).
    """
    if f.deny_all:
        return False
    if f.granular is None:
        return True
    return any(_matches(resource_type, params, content, base_url) for params in f.granular)


def _matches(
    resource_type: str, params: ParamFilter, content: dict[str, Any], base_url: str
) -> bool:
    try:
        request = parse_search([resource_type], list(params), base_url=base_url)
    except FhirError:
        # A parameter the type does not have matches nothing, as in SQL: scopes only narrow.
        return False
    return memory.matches(content, request.criteria_for(resource_type))

"""Index rows of a resource, one list per index table (R4 search.html, per type).

Each parameter's FHIRPath expression selects elements (paths.py); its type's module
(types/) turns each element into rows. `_id` and `_lastUpdated` are columns of the
resource table and are not indexed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.fhir.search.paths import compile_expression
from app.fhir.search.registry import SearchParam, compartment_params, search_params
from app.fhir.search.types import OF_TYPE_SUFFIX, SEARCH_TYPES, Row

__all__ = ["NOT_INDEXED", "OF_TYPE_SUFFIX", "IndexRows", "Row", "extract_index"]

NOT_INDEXED = frozenset({"_id", "_lastUpdated"})


def _empty_tables() -> dict[str, list[Row]]:
    return {name: [] for name in SEARCH_TYPES}


@dataclass
class IndexRows:
    """Rows per index table, by type name (without res_pk/res_type)."""

    by_type: dict[str, list[Row]] = field(default_factory=_empty_tables)
    compartment_patients: set[str] = field(default_factory=set)

    def tables(self) -> dict[str, list[Row]]:
        return self.by_type

    def of(self, type_name: str, param: str) -> list[Row]:
        """The rows of one parameter."""
        return [r for r in self.by_type[type_name] if r["param"] == param]


def _param_rows(param: SearchParam, resource: dict[str, Any]) -> Iterator[Row]:
    kind = SEARCH_TYPES[param.type]
    extractor = compile_expression(resource["resourceType"], param.expression)
    for value in extractor(resource):
        for row in kind.rows(param.name, value):
            full = {c: row.get(c) for c in kind.columns}
            full["param"] = row.get("param", param.name)
            yield full


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
    for table in tables.values():
        table[:] = _dedupe(table)
    compartment = set(compartment_params(resource_type))
    rows.compartment_patients = {
        r["target_id"]
        for r in tables["reference"]
        if r["param"] in compartment and r["target_type"] == "Patient" and r["target_id"]
    }
    if resource_type == "Patient" and isinstance(resource.get("id"), str):
        rows.compartment_patients.add(resource["id"])
    return rows

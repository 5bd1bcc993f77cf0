"""What a search-parameter type module provides (R4 search.html#ptypes).

A type owns four things: the syntax of a search value, the index rows it extracts from
an element, the columns of those rows, and whether one row matches one value. The SQL
for the same rows lives beside the table in app.storage.search_types (the storage room
may import this one, never the other way round); tests/search/test_agreement.py holds
both to the same answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from app.fhir.search.registry import SearchParam

Row = dict[str, Any]


def clip(value: str | None, size: int) -> str | None:
    """Values are clipped to the column size, on both the index and the query side."""
    return value[:size] if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class ValueContext:
    """Where one search value was written: `name` as in the query, for OperationOutcome."""

    name: str
    param: SearchParam
    modifier: str | None
    resource_type: str
    base_url: str


# (one value as written, its context) -> the parsed value, or None when no row can match it
ValueParser = Callable[[str, ValueContext], Any]
# (parameter name, one element the expression selected) -> index rows
RowExtractor = Callable[[str, Any], Iterator[Row]]
# (index row, parsed value, modifier) -> does the row match
RowMatcher = Callable[[Row, Any, "str | None"], bool]


@dataclass(frozen=True, slots=True)
class SearchType:
    name: str
    modifiers: frozenset[str]  # besides `missing`, which every type has
    columns: tuple[str, ...]  # of its index table, besides res_pk, res_type, param
    parse: ValueParser
    rows: RowExtractor
    matches: RowMatcher

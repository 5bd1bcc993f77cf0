"""String: case- and accent-folded starts-with over string, HumanName and Address
(R4 search.html#string), with :exact and :contains; folding in normalise.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.fhir.search.normalise import normalise
from app.fhir.search.syntax import unescape
from app.fhir.search.types.base import Row, SearchType, ValueContext

EXACT_LENGTH = 512
_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


@dataclass(frozen=True, slots=True)
class StringValue:
    exact: str
    norm: str


def parse(raw: str, ctx: ValueContext) -> StringValue:
    text = unescape(raw)
    return StringValue(text[:EXACT_LENGTH], normalise(text))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        parts = _NAME_PARTS if ("family" in value or "given" in value) else _ADDRESS_PARTS
        for key in parts:
            item = value.get(key)
            for text in item if isinstance(item, list) else [item]:
                if isinstance(text, str):
                    yield text


def rows(param: str, value: Any) -> Iterator[Row]:
    for text in _texts(value):
        yield {"value_norm": normalise(text), "value_exact": text[:EXACT_LENGTH]}


def matches(row: Row, v: StringValue, modifier: str | None) -> bool:
    if modifier == "exact":
        return bool(row["value_exact"] == v.exact)
    if modifier == "contains":
        return v.norm in row["value_norm"]
    return bool(row["value_norm"].startswith(v.norm))


TYPE = SearchType(
    name="string",
    modifiers=frozenset({"missing", "exact", "contains"}),
    columns=("value_norm", "value_exact"),
    parse=parse,
    rows=rows,
    matches=matches,
)

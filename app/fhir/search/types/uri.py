"""Uri: exact match over uri, url and canonical, with :below and :above as path
prefixes (R4 search.html#uri)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.fhir.search.syntax import unescape
from app.fhir.search.types.base import Row, SearchType, ValueContext

URI_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class UriValue:
    uri: str


def parse(raw: str, ctx: ValueContext) -> UriValue:
    return UriValue(unescape(raw)[:URI_LENGTH])


def rows(param: str, value: Any) -> Iterator[Row]:
    if isinstance(value, str):
        yield {"uri": value[:URI_LENGTH]}


def above(uri: str) -> tuple[str, ...]:
    """The uris `:above` matches: the value and each of its `/`-parents (R4: `:above`
    on `http://acme.org/fhir/ValueSet/123` matches `http://acme.org/fhir/`, ...), down
    to the authority; no scheme-only or empty prefixes."""
    found = [uri]
    head, scheme, rest = uri.partition("://")
    if not scheme:
        return tuple(found)
    parts = rest.split("/")
    for end in range(len(parts) - 1, 0, -1):
        prefix = head + scheme + "/".join(parts[:end])
        found.extend((prefix, prefix + "/"))
    return tuple(dict.fromkeys(found))


def matches(row: Row, v: UriValue, modifier: str | None) -> bool:
    if modifier == "below":
        return bool(row["uri"].startswith(v.uri))
    if modifier == "above":
        return row["uri"] in above(v.uri)
    return bool(row["uri"] == v.uri)


TYPE = SearchType(
    name="uri",
    modifiers=frozenset({"missing", "below", "above"}),
    columns=("uri",),
    parse=parse,
    rows=rows,
    matches=matches,
)

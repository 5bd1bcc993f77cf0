"""The search-parameter types, one module each (R4 search.html#ptypes).

Adding a type: a module here (value, parse, rows, matches), its line in SEARCH_TYPES and
in `Value`, and its table and SQL in app.storage.search_types (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from app.fhir.search.types import date, reference, string, token, uri
from app.fhir.search.types.base import Row, SearchType, ValueContext, clip
from app.fhir.search.types.date import DatePrefix, DateValue
from app.fhir.search.types.reference import ReferenceValue
from app.fhir.search.types.string import StringValue
from app.fhir.search.types.token import OF_TYPE_SUFFIX, TokenValue
from app.fhir.search.types.uri import UriValue

SEARCH_TYPES: Mapping[str, SearchType] = MappingProxyType(
    {t.name: t for t in (token.TYPE, string.TYPE, date.TYPE, reference.TYPE, uri.TYPE)}
)
Value = TokenValue | StringValue | DateValue | ReferenceValue | UriValue

__all__ = [
    "OF_TYPE_SUFFIX",
    "SEARCH_TYPES",
    "DatePrefix",
    "DateValue",
    "ReferenceValue",
    "Row",
    "SearchType",
    "StringValue",
    "TokenValue",
    "UriValue",
    "Value",
    "ValueContext",
    "clip",
]

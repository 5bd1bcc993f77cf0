"""Compiled extractors for R4 search-parameter FHIRPath expressions.

Most R4 expressions are plain paths (`CarePlan.activity.detail.code`), unions,
`.as(Type)` / `(x as Type)` casts, `.where(resolve() is Patient)` and
`.where(system='phone')`. Those compile to fast walkers over the JSON dict; any
other expression falls back to `fhirpathpy.compile` (compiled once, cached).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

from app.fhir.validation import parse_reference

Extractor = Callable[[dict[str, Any]], list[Any]]

_CAST = re.compile(r"^\((?P<path>[A-Za-z.]+) as (?P<type>[A-Za-z]+)\)$")
_AS = re.compile(r"\.as\((?P<type>[A-Za-z]+)\)")
_RESOLVE = re.compile(r"^where\(resolve\(\) is (?P<type>[A-Z][A-Za-z]+)\)$")
_WHERE_EQ = re.compile(r"^where\((?P<key>[a-z]+)='(?P<value>[^']*)'\)$")
_NAME = re.compile(r"^[a-z][A-Za-z]*$")
_ABSOLUTE_TAIL = re.compile(
    r"/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/.*)?$"
)

Step = Callable[[Any], Iterator[Any]]

# Names that are a choice element (`name[x]`) somewhere in R4, resources or datatypes.
# Only these can be stored under a typed key, so only these need the key scan.
_CHOICE_NAMES = frozenset(path.rsplit(".", 1)[1] for path in models["r4"]["choiceTypePaths"])


def reference_type(ref: dict[str, Any]) -> str | None:
    """The target type of a Reference dict, from its literal reference or `type`."""
    literal = ref.get("reference")
    if isinstance(literal, str):
        parsed = parse_reference(literal)
        if parsed:
            return parsed[0]
        tail = _ABSOLUTE_TAIL.search(literal)
        if tail and "://" in literal:
            return tail["type"]
    declared = ref.get("type")
    return declared if isinstance(declared, str) else None


def _children(value: Any, name: str, cast: str | None, choice: bool) -> Iterator[Any]:
    if not isinstance(value, dict):
        return
    keys = [name + cast[0].upper() + cast[1:]] if cast else [name]
    if choice and not cast and name not in value:  # a choice element: name[x]
        keys = [k for k in value if k.startswith(name) and k[len(name) : len(name) + 1].isupper()]
    for key in keys:
        child = value.get(key)
        if isinstance(child, list):
            yield from (c for c in child if c is not None)
        elif child is not None:
            yield child


def _step(segment: str) -> Step:
    resolve = _RESOLVE.match(segment)
    if resolve:
        wanted = resolve["type"]
        return lambda v: iter([v] if isinstance(v, dict) and reference_type(v) == wanted else [])
    where = _WHERE_EQ.match(segment)
    if where:
        key, expected = where["key"], where["value"]
        return lambda v: iter([v] if isinstance(v, dict) and v.get(key) == expected else [])
    name, _, cast = segment.partition("#")
    if not _NAME.match(name):
        raise ValueError(segment)
    choice = name in _CHOICE_NAMES
    return lambda v: _children(v, name, cast or None, choice)


def _split_top(expression: str, separator: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(expression):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and expression.startswith(separator, index):
            parts.append(expression[start:index])
            start = index + len(separator)
    parts.append(expression[start:])
    return [p.strip() for p in parts]


def _compile_path(resource_type: str, path: str) -> Extractor:
    cast = _CAST.match(path)
    if cast:
        path = f"{cast['path']}.as({cast['type']})"
    path = _AS.sub(lambda m: f"#{m['type']}", path)
    segments = _split_top(path, ".")
    if not segments or segments[0] != resource_type:
        raise ValueError(path)
    steps = [_step(s) for s in segments[1:]]

    def run(resource: dict[str, Any]) -> list[Any]:
        current: list[Any] = [resource]
        for step in steps:
            current = [child for value in current for child in step(value)]
        return current

    return run


def _fhirpath(expression: str) -> Extractor:
    compiled = fhirpathpy.compile(expression, model=models["r4"])

    def run(resource: dict[str, Any]) -> list[Any]:
        return list(compiled(resource, {}))

    return run


@cache
def compile_expression(resource_type: str, expression: str) -> Extractor:
    """An extractor for `expression`: a hand-compiled walker when possible."""
    try:
        parts = [_compile_path(resource_type, p) for p in _split_top(expression, "|")]
    except ValueError:
        return _fhirpath(expression)
    if len(parts) == 1:
        return parts[0]
    return lambda resource: [value for part in parts for value in part(resource)]

"""Reading values out of resource JSON: element items with their paths, fixed/pattern matching,
reference parsing (R4 elementdefinition.html#ElementDefinition.pattern_x_, references.html)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# R4 primitive type codes, to map a choice property suffix ("valueDate") to its type code ("date").
PRIMITIVE_TYPES = frozenset(
    {
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
        "instant", "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt",
        "uri", "url", "uuid",
    }
)  # fmt: skip

_TYPE = re.compile(r"[A-Z][A-Za-z]+")
_REFERENCE = re.compile(
    r"^(?:.*/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)


@dataclass(frozen=True, slots=True)
class Item:
    """One occurrence of an element: its value, FHIRPath location and (for choices) type code."""

    value: Any
    path: str
    type_code: str | None = None


def type_code_of_suffix(suffix: str) -> str:
    """`Coding` -> `Coding`, `Date` -> `date`: the type code of a choice-property suffix."""
    lowered = suffix[:1].lower() + suffix[1:]
    return lowered if lowered in PRIMITIVE_TYPES else suffix


def items(parent: Mapping[str, Any], name: str, parent_path: str) -> tuple[list[Item], bool]:
    """The occurrences of child `name` (`value[x]` for choices); True if only `_name` is there."""
    if name.endswith("[x]"):
        prefix = name[:-3]
        found: list[Item] = []
        for key, value in parent.items():
            suffix = key[len(prefix) :]
            if key.startswith(prefix) and suffix[:1].isupper():
                found.extend(_expand(value, f"{parent_path}.{key}", type_code_of_suffix(suffix)))
        return found, False
    if name in parent:
        return _expand(parent[name], f"{parent_path}.{name}", None), False
    return [], f"_{name}" in parent


def _expand(value: Any, path: str, type_code: str | None) -> list[Item]:
    if isinstance(value, list):
        return [Item(v, f"{path}[{i}]", type_code) for i, v in enumerate(value) if v is not None]
    return [] if value is None else [Item(value, path, type_code)]


def values_at(value: Any, path: str) -> list[Any]:
    """The values at a simple dotted path (`$this`, `system`, `role.coding`), flattening arrays."""
    current = value if isinstance(value, list) else [value]
    if path == "$this":
        return current
    for name in path.split("."):
        nxt: list[Any] = []
        for v in current:
            if isinstance(v, Mapping) and name in v:
                child = v[name]
                nxt.extend(child if isinstance(child, list) else [child])
        current = nxt
    return current


def matches_pattern(value: Any, pattern: Any) -> bool:
    """pattern[x]: every element in the pattern is present with the same value; arrays match if
    each pattern entry matches some entry of the value."""
    if isinstance(pattern, Mapping):
        return isinstance(value, Mapping) and all(
            k in value and matches_pattern(value[k], v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        values = value if isinstance(value, list) else [value]
        return all(any(matches_pattern(v, p) for v in values) for p in pattern)
    return bool(value == pattern)


def matches_fixed(value: Any, fixed: Any) -> bool:
    """fixed[x]: the value equals the fixed value exactly, including absent elements."""
    return bool(value == fixed)


def reference_type(reference: str) -> str | None:
    """The resource type of a literal reference `Type/id` or `http://.../Type/id`, or of a
    conditional reference `Type?query` (transaction.html); None for `urn:uuid:` or `#id`."""
    if reference.startswith(("urn:", "#")):
        return None
    if "?" in reference:
        head = reference.split("?", 1)[0]
        return head if _TYPE.fullmatch(head) else None
    match = _REFERENCE.match(reference)
    return match.group("type") if match else None

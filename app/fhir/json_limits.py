"""Parse request JSON with bounds, so hostile input costs little and fails clearly.

Beyond well-formedness (RFC 8259) a FHIR JSON body must have one value per
element (R4 json.html: duplicate keys make the resource ambiguous; most parsers
silently keep the last), numbers a double or a 64-bit integer can hold (a
`1e-400` must not be stored as 0), and strings without control characters
(R4 datatypes.html#string; PostgreSQL cannot store U+0000 at all). Each refusal
names the element path.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from app.fhir.outcome import FhirError, Issue, bad_request, error
from app.fhir.primitives import fhir_string_problem, printable

# A 64-bit integer has at most 19 digits; beyond that int() would only cost time.
_MAX_INTEGER_DIGITS = 19
_INT64 = 2**63
_NONZERO_MANTISSA = re.compile(r"^-?0*\.?0*[1-9]")


class _Duplicated(dict[str, Any]):
    """An object in which `duplicates` appeared more than once."""

    duplicates: list[str]


class _OutOfRange:
    """A number literal no double or 64-bit integer holds (kept as written for the message)."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    duplicated = _Duplicated(value)
    seen: set[str] = set()
    duplicated.duplicates = []
    for key, _ in pairs:
        if key in seen:
            duplicated.duplicates.append(key)
        seen.add(key)
    return duplicated


def _float(literal: str) -> float | _OutOfRange:
    value = float(literal)
    if math.isinf(value) or (value == 0.0 and _NONZERO_MANTISSA.match(literal)):
        return _OutOfRange(literal)
    return value


def _int(literal: str) -> int | _OutOfRange:
    if len(literal.lstrip("-")) > _MAX_INTEGER_DIGITS:
        return _OutOfRange(literal)
    value = int(literal)
    return value if -_INT64 <= value < _INT64 else _OutOfRange(literal)


def parse_json(body: bytes, *, max_depth: int, max_array_length: int) -> Any:
    """Decode UTF-8 JSON; 400 on malformed text, excessive nesting, huge arrays, or any
    duplicate key, out-of-range number or forbidden character (naming its path)."""
    if not body.strip():
        raise bad_request("The request body is empty; a FHIR JSON resource was expected.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FhirError.of(
            400, "structure", f"The body is not UTF-8: invalid byte at offset {exc.start}"
        ) from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_float=_float,
            parse_int=_int,
            parse_constant=_OutOfRange,
        )
    except json.JSONDecodeError as exc:
        raise FhirError.of(400, "structure", f"Malformed JSON: {exc}") from None
    except RecursionError:
        raise _too_deep(max_depth) from None
    _check(value, max_depth, max_array_length)
    # Escapes are the only way to spell a control character or a surrogate in valid JSON.
    issue = string_issue(value) if "\\u" in text else None
    if issue is not None:
        raise FhirError(400, [issue])
    return value


def _too_deep(max_depth: int) -> FhirError:
    return FhirError.of(
        400, "too-long", f"JSON nesting deeper than {max_depth} levels is not accepted."
    )


def _path(trail: tuple[Any, ...] | None, root: str) -> str:
    """The element path of a trail `(parent_trail, key_or_index)`, e.g. `Patient.name[0]`."""
    parts: list[str] = []
    while trail is not None:
        trail, step = trail
        parts.append(f"[{step}]" if isinstance(step, int) else f".{printable(step)}")
    return (root + "".join(reversed(parts))).lstrip(".")


def _root(value: Any) -> str:
    root = value.get("resourceType") if isinstance(value, dict) else None
    return root if isinstance(root, str) and root.isalpha() else ""


def _check(value: Any, max_depth: int, max_array_length: int) -> None:
    root = _root(value)
    stack: list[tuple[Any, int, tuple[Any, ...] | None]] = [(value, 1, None)]
    while stack:
        node, depth, trail = stack.pop()
        if depth > max_depth:
            raise _too_deep(max_depth)
        if isinstance(node, dict):
            if type(node) is _Duplicated:
                path = _path((trail, node.duplicates[0]), root)
                raise bad_request(
                    f"{path}: the element appears more than once in its JSON object; "
                    "FHIR JSON gives each element one value",
                    path,
                    rule="duplicate-key",
                )
            stack.extend((child, depth + 1, (trail, key)) for key, child in node.items())
        elif isinstance(node, list):
            if len(node) > max_array_length:
                raise FhirError.of(
                    400,
                    "too-long",
                    f"A JSON array longer than {max_array_length} items is not accepted.",
                    _path(trail, root) or None,
                )
            stack.extend((child, depth + 1, (trail, i)) for i, child in enumerate(node))
        elif isinstance(node, _OutOfRange):
            path = _path(trail, root)
            raise FhirError.of(
                400,
                "value",
                f"{path}: the number {node.literal} is out of range: FHIR JSON numbers must "
                "be finite, a decimal must fit a double without underflowing to 0, an "
                "integer must fit 64 bits (FHIR integer: 32 bits)",
                path or None,
                rule="number-range",
            )


def string_issue(value: Any) -> Issue | None:
    """The first string or element name that is not a FHIR string (R4 datatypes.html#string),
    or the first element whose value is `null` (R4 json.html: an element without a value is
    left out; `null` stands only in arrays, aligning a primitive array with its `_` array)."""
    root = _root(value)
    stack: list[tuple[Any, tuple[Any, ...] | None]] = [(value, None)]
    while stack:
        node, trail = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                problem = fhir_string_problem(key)
                if problem:
                    path = _path((trail, key), root)
                    return error(
                        "value",
                        f"{path}: the element name is not valid: {problem}",
                        path,
                        rule="string",
                    )
                if child is None:
                    path = _path((trail, key), root)
                    return error(
                        "value",
                        f"{path}: null is not a FHIR value; leave the element out",
                        path,
                        rule="json-null",
                    )
                stack.append((child, (trail, key)))
        elif isinstance(node, list):
            stack.extend((child, (trail, i)) for i, child in enumerate(node))
        elif isinstance(node, str):
            problem = fhir_string_problem(node)
            if problem:
                path = _path(trail, root)
                return error("value", f"{path}: {problem}", path or None, rule="string")
    return None

"""Parse request JSON with bounds, so hostile input costs little and fails clearly."""

from __future__ import annotations

from typing import Any

import orjson

from app.fhir.outcome import FhirError, bad_request


def parse_json(body: bytes, *, max_depth: int, max_array_length: int) -> Any:
    """Decode UTF-8 JSON; 400 on malformed text, excessive nesting or huge arrays."""
    if not body.strip():
        raise bad_request("The request body is empty; a FHIR JSON resource was expected.")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FhirError.of(400, "structure", f"Malformed JSON: {exc}") from None
    _check_shape(value, max_depth, max_array_length)
    return value


def _check_shape(value: Any, max_depth: int, max_array_length: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise FhirError.of(
                400, "too-long", f"JSON nesting deeper than {max_depth} levels is not accepted."
            )
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            if len(node) > max_array_length:
                raise FhirError.of(
                    400,
                    "too-long",
                    f"A JSON array longer than {max_array_length} items is not accepted.",
                )
            stack.extend((child, depth + 1) for child in node)

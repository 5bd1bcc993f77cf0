"""Reading request bodies within the configured size limit."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from app.fhir.json_limits import parse_json
from app.fhir.outcome import FhirError
from app.settings import Settings


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body; 413 as soon as it exceeds `max_bytes` (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and _declared_above(declared, max_bytes):
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _declared_above(declared: str, max_bytes: int) -> bool:
    """Content-Length above `max_bytes` (ASCII digits only; a malformed one is the server's)."""
    digits = declared.strip()
    if not (digits.isascii() and digits.isdigit()):
        return False
    return len(digits.lstrip("0")) > len(str(max_bytes)) or int(digits) > max_bytes


def _too_large(max_bytes: int) -> FhirError:
    return FhirError.of(413, "too-long", f"The request body exceeds {max_bytes} bytes")


async def read_json(request: Request, settings: Settings) -> Any:
    raw = await read_body(request, settings.max_body_bytes)
    return parse_json(
        raw, max_depth=settings.max_json_depth, max_array_length=settings.max_array_length
    )

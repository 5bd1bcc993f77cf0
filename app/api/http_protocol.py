"""The HTTP/1.1 protocol `esp-careplans serve` runs: uvicorn's h11 one, refusing in FHIR.

uvicorn answers a request head it cannot parse, or one longer than h11's buffer,
itself, with a plain-text 400. Here a request line over `ESP_MAX_REQUEST_LINE_BYTES`
is a 414 (RFC 9110 §15.5.15), header lines over `ESP_MAX_HEADER_BYTES` a 431
(RFC 6585 §5), and any other unparseable request a 400, each with an
OperationOutcome. These answers never reach the application, so they carry no
request id; they close the connection, as the request's end cannot be known.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.fhir.outcome import IssueCode, error, operation_outcome
from app.settings import get_settings

# Slack over the two limits for the line ends h11 buffers with the head.
_LINE_ENDS = 64


@dataclass(frozen=True, slots=True)
class HeadLimits:
    request_line: int
    headers: int

    @property
    def h11_buffer(self) -> int:
        """h11's own limit, just above ours, so ours always answers first."""
        return self.request_line + self.headers + _LINE_ENDS


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: IssueCode
    diagnostics: str


def oversized_head(buffer: bytes, limits: HeadLimits) -> Refusal | None:
    """A 414 or 431 for a request head (so far) beyond `limits`; None when within them."""
    line_end = buffer.find(b"\n")
    line = line_end if line_end >= 0 else len(buffer)
    if line > limits.request_line:
        return Refusal(
            414,
            "too-long",
            f"The request line exceeds {limits.request_line} bytes; "
            "send long searches as POST [type]/_search",
        )
    head_end = buffer.find(b"\r\n\r\n", max(line_end, 0))
    headers = (head_end if head_end >= 0 else len(buffer)) - line
    if headers > limits.headers:
        return Refusal(431, "too-long", f"The request headers exceed {limits.headers} bytes")
    return None


def refusal_bytes(refusal: Refusal) -> bytes:
    """A complete HTTP/1.1 response carrying the refusal's OperationOutcome."""
    body = orjson.dumps(operation_outcome([error(refusal.code, refusal.diagnostics)]))
    head = (
        f"HTTP/1.1 {refusal.status} {HTTPStatus(refusal.status).phrase}\r\n"
        "content-type: application/fhir+json; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n"
        "cache-control: no-store\r\n"
        "x-content-type-options: nosniff\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class FhirH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with FHIR answers for the heads it refuses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.limits = HeadLimits(settings.max_request_line_bytes, settings.max_header_bytes)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:  # between requests: a new head is arriving
            refusal = oversized_head(self.conn.trailing_data[0] + data, self.limits)
            if refusal is not None:
                self._refuse(refusal)
                return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's hook for an unparseable request (also h11's own buffer limit)."""
        refusal = oversized_head(self.conn.trailing_data[0], self.limits)
        self._refuse(refusal or Refusal(400, "structure", "The request is not valid HTTP/1.1"))

    def _refuse(self, refusal: Refusal) -> None:
        self.logger.info("refused a request head: %s", refusal.status)
        self.transport.write(refusal_bytes(refusal))
        self.transport.close()

"""The HTTP/1.1 protocol `esp-careplans serve` runs: uvicorn's httptools one, refusing in FHIR.

httptools (llhttp, in C) costs about half the CPU per request of uvicorn's pure-Python h11
protocol (issue #14), but sets no limit on a request head at all. Here a request line over
`ESP_MAX_REQUEST_LINE_BYTES` is a 414 (RFC 9110 §15.5.15), header lines over
`ESP_MAX_HEADER_BYTES` a 431 (RFC 6585 §5), and any other unparseable request a 400, each
with an OperationOutcome. These answers never reach the application, so they carry no
request id; they close the connection, as the request's end cannot be known.

A head is measured twice: as raw bytes while it arrives (`oversized_head`, so a huge
head is refused before it is buffered), and, for a pipelined request whose head starts
inside a chunk the raw measure cannot place, from the parser's own pieces
(`ParsedHead`), which count the same bytes for a head written as `Name: value` lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.fhir.outcome import IssueCode, error, operation_outcome
from app.settings import get_settings

# Slack over the two limits for the line ends kept with a head being measured.
_LINE_ENDS = 64
# What a request line holds besides its method and target, up to its `\n`.
_LINE_FRAME = len(b" ") + len(b" HTTP/1.1\r")


@dataclass(frozen=True, slots=True)
class HeadLimits:
    request_line: int
    headers: int

    @property
    def buffer(self) -> int:
        """Bytes of a head worth keeping to measure it: past these it is refused anyway."""
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
        return _too_long_line(limits)
    head_end = buffer.find(b"\r\n\r\n", max(line_end, 0))
    headers = (head_end if head_end >= 0 else len(buffer)) - line
    if headers > limits.headers:
        return _too_long_headers(limits)
    return None


def _too_long_line(limits: HeadLimits) -> Refusal:
    return Refusal(
        414,
        "too-long",
        f"The request line exceeds {limits.request_line} bytes; "
        "send long searches as POST [type]/_search",
    )


def _too_long_headers(limits: HeadLimits) -> Refusal:
    return Refusal(431, "too-long", f"The request headers exceed {limits.headers} bytes")


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


class HeadTooLong(Exception):
    """Raised from a parser callback to stop parsing a head beyond the limits."""


@dataclass(slots=True)
class ParsedHead:
    """One request head measured from the parser's pieces, counting what `oversized_head`
    counts in raw bytes: the line up to its `\\n`, the headers from there to the blank line."""

    limits: HeadLimits
    line: int = 0
    headers: int = -1  # the line's `\\n` counts, the last header's `\\r\\n` does not

    def target(self, method: bytes, piece: bytes) -> Refusal | None:
        """Count a piece of the request target (the parser hands it over in pieces)."""
        self.line += len(piece) + (0 if self.line else len(method) + _LINE_FRAME)
        return _too_long_line(self.limits) if self.line > self.limits.request_line else None

    def header(self, name: bytes, value: bytes) -> Refusal | None:
        self.headers += len(name) + len(b": ") + len(value) + len(b"\r\n")
        return _too_long_headers(self.limits) if self.headers > self.limits.headers else None


class FhirHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on request heads and FHIR answers for the
    heads it refuses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.limits = HeadLimits(settings.max_request_line_bytes, settings.max_header_bytes)
        # The raw head so far, when it began at a chunk's start; None inside a body and for
        # a pipelined head that began inside a chunk (its start is not known).
        self.raw_head: bytes | None = b""
        self.parsed_head = ParsedHead(self.limits)
        self.refusal: Refusal | None = None  # found by a parser callback
        self.deferred: Refusal | None = None  # waiting for the responses before it
        self.completed_in_chunk = False

    def data_received(self, data: bytes) -> None:
        if self.raw_head is not None:  # a head is arriving (or the next one may)
            head = self.raw_head + data
            refusal = oversized_head(head, self.limits)
            if refusal is not None:
                self._refuse_in_turn(refusal)
                return
            self.raw_head = head[: self.limits.buffer]
        self.completed_in_chunk = False
        super().data_received(data)

    def on_message_begin(self) -> None:
        self.parsed_head = ParsedHead(self.limits)
        if self.completed_in_chunk:  # pipelined: this head starts somewhere inside the chunk
            self.raw_head = None
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._check(self.parsed_head.target(self.parser.get_method(), url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._check(self.parsed_head.header(name, value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.raw_head = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.raw_head, self.completed_in_chunk = b"", True  # the next head starts after this
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's hook for an unparseable request (also for `HeadTooLong`)."""
        refusal = self.refusal or oversized_head(self.raw_head or b"", self.limits)
        self._refuse_in_turn(
            refusal or Refusal(400, "structure", "The request is not valid HTTP/1.1")
        )

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.deferred is not None and self._answered_all():
            self._refuse(self.deferred)

    def _check(self, refusal: Refusal | None) -> None:
        if refusal is not None:
            self.refusal = refusal
            raise HeadTooLong(refusal.diagnostics)  # the parser stops; uvicorn answers 400

    def _answered_all(self) -> bool:
        return not self.pipeline and (self.cycle is None or self.cycle.response_complete)

    def _refuse_in_turn(self, refusal: Refusal) -> None:
        """Refuse now, or after the responses to the requests before this head (pipelining)."""
        if self._answered_all():
            self._refuse(refusal)
        else:
            self.deferred = refusal

    def _refuse(self, refusal: Refusal) -> None:
        self.logger.info("refused a request head: %s", refusal.status)
        self.transport.write(refusal_bytes(refusal))
        self.transport.close()

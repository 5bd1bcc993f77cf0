"""The HTTP edge of `esp-careplans serve` itself: request heads uvicorn refuses, its banner."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from app.api.http_protocol import HeadLimits, ParsedHead, oversized_head
from tests.support.databases import migrate
from tests.support.servers import RunningServer, running_server

LIMITS = {"ESP_MAX_REQUEST_LINE_BYTES": "2048", "ESP_MAX_HEADER_BYTES": "4096"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    url = f"sqlite:///{tmp_path_factory.mktemp('edge') / 'edge.db'}"
    migrate(url)
    with running_server(url, workers=1, env=LIMITS) as srv:
        yield srv


def _raw(server: RunningServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers and body of the answer."""
    address = urlsplit(server.base)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _outcome(body: bytes) -> dict:
    outcome = json.loads(body)
    assert outcome["resourceType"] == "OperationOutcome"
    return dict(outcome["issue"][0])


@pytest.mark.slow
def test_an_oversized_request_line_is_414_with_an_operation_outcome(
    server: RunningServer,
) -> None:
    path = "/fhir/Patient?name=" + "a" * 3000
    status, headers, body = _raw(server, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 414
    assert headers["content-type"].startswith("application/fhir+json")
    assert _outcome(body)["code"] == "too-long"
    assert "server" not in headers


@pytest.mark.slow
def test_oversized_headers_are_431_with_an_operation_outcome(server: RunningServer) -> None:
    filler = "".join(f"X-Filler-{i}: {'b' * 100}\r\n" for i in range(60))
    request = f"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n{filler}\r\n".encode()
    status, headers, body = _raw(server, request)
    assert status == 431
    assert _outcome(body)["code"] == "too-long"
    assert headers["cache-control"] == "no-store"


@pytest.mark.slow
def test_a_request_line_sent_in_pieces_is_still_measured(server: RunningServer) -> None:
    address = urlsplit(server.base)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"GET /fhir/Patient?name=")
        for _ in range(3):  # the third piece takes the line past 2048 bytes
            sock.sendall(b"a" * 1000)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 414 ")


@pytest.mark.slow
def test_garbage_is_400_with_an_operation_outcome(server: RunningServer) -> None:
    status, headers, body = _raw(server, b"NOT HTTP AT ALL\r\n\r\n")
    assert "server" not in headers
    assert status == 400
    assert _outcome(body)["code"] == "structure"


@pytest.mark.slow
def test_requests_within_the_limits_pass_and_carry_no_server_banner(
    server: RunningServer,
) -> None:
    answer = httpx.get(f"{server.base}/metadata", params={"x": "a" * 1500}, timeout=10)
    assert answer.status_code == 200
    assert "server" not in answer.headers
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    head = httpx.head(f"{server.base}/metadata", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == answer.headers["content-length"]
    options = httpx.options(f"{server.base}/Patient", timeout=10)
    assert options.status_code == 204 and "OPTIONS" in options.headers["allow"]


@pytest.mark.slow
def test_keep_alive_requests_after_the_first_are_measured_too(server: RunningServer) -> None:
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    second = f"GET /fhir/Patient?name={'a' * 3000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    address = urlsplit(server.base)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(first)
        answer = b""
        while not answer.endswith(b'{"status":"ok"}'):
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        sock.sendall(second)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 414 ")


def test_oversized_head_measures_the_line_and_the_headers_apart() -> None:
    limits = HeadLimits(request_line=20, headers=40)
    assert oversized_head(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", limits) is None
    assert oversized_head(b"GET /" + b"a" * 30, limits).status == 414  # type: ignore[union-attr]
    long_headers = b"GET / HTTP/1.1\r\n" + b"X: " + b"b" * 50
    assert oversized_head(long_headers, limits).status == 431  # type: ignore[union-attr]
    # A body after the head does not count as headers.
    with_body = b"POST / HTTP/1.1\r\nHost: x\r\n\r\n" + b"c" * 1000
    assert oversized_head(with_body, limits) is None
    assert limits.buffer > limits.request_line + limits.headers


def test_serve_passes_the_protocol_and_no_banner(monkeypatch: pytest.MonkeyPatch) -> None:
    """`esp-careplans serve` hands uvicorn our protocol and server_header=False."""
    from app import cli
    from app.api.http_protocol import FhirHttpToolsProtocol
    from app.settings import Settings

    seen: dict = {}
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **kw: seen.update(kw))
    settings = Settings(max_request_line_bytes=1000, max_header_bytes=2000)
    args = cli.argparse.Namespace(migrate=False, host=None, port=None, workers=None)
    cli.cmd_serve(args, settings)
    assert seen["server_header"] is False
    assert seen["http"] is FhirHttpToolsProtocol


@pytest.mark.slow
def test_a_pipelined_request_is_measured_too(server: RunningServer) -> None:
    """Requests in one send: the later heads start inside the chunk; the ones before a
    refused head are answered first."""
    fine = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    filler = "".join(f"X-Filler-{i}: {'b' * 100}\r\n" for i in range(60))
    too_long = f"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n{filler}\r\n".encode()
    address = urlsplit(server.base)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(fine + fine + too_long)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    statuses = [int(part[:3]) for part in data.split(b"HTTP/1.1 ")[1:]]
    assert statuses == [200, 200, 431]
    assert data.endswith(b'"diagnostics":"The request headers exceed 4096 bytes"}]}')


def test_a_parsed_head_counts_the_bytes_oversized_head_counts() -> None:
    """The parser's pieces of a `Name: value` head measure as its raw bytes do."""
    head = b"POST /fhir/CarePlan?x=1 HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\n\r\n"
    line = head.index(b"\n")
    for limits in (HeadLimits(line, 100), HeadLimits(100, line)):
        parsed = ParsedHead(limits)
        seen = [parsed.target(b"POST", b"/fhir/Care"), parsed.target(b"POST", b"Plan?x=1")]
        seen += [parsed.header(b"Host", b"x"), parsed.header(b"Content-Type", b"a/b")]
        assert parsed.line == line
        assert seen == [None] * 4 and oversized_head(head, limits) is None
        assert parsed.headers == head.index(b"\r\n\r\n") - line
    tight = HeadLimits(line - 1, parsed.headers - 1)
    assert ParsedHead(tight).target(b"POST", b"/fhir/CarePlan?x=1").status == 414  # type: ignore[union-attr]
    assert oversized_head(head, tight).status == 414  # type: ignore[union-attr]
    short_line = HeadLimits(line, parsed.headers - 1)
    again = ParsedHead(short_line)
    again.header(b"Host", b"x")
    assert again.header(b"Content-Type", b"a/b").status == 431  # type: ignore[union-attr]
    assert oversized_head(head, short_line).status == 431  # type: ignore[union-attr]

"""`esp-careplans serve` with two workers spreads keep-alive connections over both.

Which worker accepted a connection is read from /proc (the server side of the connection
is a socket one worker process holds open), so the server exposes nothing for the test
and nothing is timed: bursts of connections are opened at once, as a load generator
does, and each is answered once while all stay open. With one socket shared by both
workers (uvicorn's supervisor) a burst regularly went to one worker alone.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench.servers import LISTEN, children, connections
from tests.support.databases import database_for
from tests.support.servers import running_server

pytestmark = pytest.mark.slow
CONNECTIONS = 16  # as the benchmark's load generator opens
ROUNDS = 8  # with SO_REUSEPORT a round goes to one worker with p = 2 * 2**-16
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _workers_listening(pid: int, port: int, workers: int, timeout: float = 60.0) -> list[int]:
    """The worker pids once each of them holds a listening socket on `port`."""
    deadline = time.monotonic() + timeout
    found: list[int] = []
    while time.monotonic() < deadline:
        found = [p for p, n in connections(port, children(pid), LISTEN).items() if n]
        if len(found) >= workers:
            return found
        time.sleep(0.2)
    raise AssertionError(f"only workers {found} listen on port {port} after {timeout} s")


def _answered(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "the server closed a keep-alive connection"
        data += chunk
    return data


def _burst(port: int, workers: list[int]) -> dict[int, int]:
    """Open CONNECTIONS at once, get one answer on each, and say which worker holds which."""
    opened = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
    try:
        for sock in opened:
            sock.sendall(REQUEST)
        assert all(_answered(s).startswith(b"HTTP/1.1 200") for s in opened)
        return connections(port, workers)
    finally:
        for sock in opened:
            sock.close()


def test_two_workers_both_take_each_burst_of_keep_alive_connections(tmp_path: Path) -> None:
    for url in database_for("sqlite", tmp_path):
        with running_server(url, workers=2) as server:
            port = int(urlsplit(server.base).port or 0)
            workers = _workers_listening(server.pid, port, 2)
            rounds = [_burst(port, workers) for _ in range(ROUNDS)]
    for held in rounds:
        assert sum(held.values()) == CONNECTIONS, held
        assert all(n > 0 for n in held.values()), f"one worker took every connection: {rounds}"

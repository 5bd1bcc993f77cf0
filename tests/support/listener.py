"""A notification endpoint on loopback for the subscription tests: records what it gets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Listener:
    """What arrived (bodies and headers), and how to answer: fail the first N with 500,
    or hold the first `hold_events` event notifications until `hold` is set."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    fail_first: int = 0
    hold: threading.Event = field(default_factory=threading.Event)
    hold_events: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[str]:
        """The focus of every event-notification answered 2xx, in arrival order."""
        found = []
        for body, status in zip(self.received, self.answered, strict=False):
            if status >= 300 or _type(body) != "event-notification":
                continue
            found += [e["fullUrl"] for e in body["entry"][1:]]
        return found

    def handshakes(self) -> int:
        return sum(1 for b in self.received if _type(b) == "handshake")


def _type(bundle: dict[str, Any]) -> str:
    status = bundle["entry"][0]["resource"]
    return next(p["valueCode"] for p in status["parameter"] if p["name"] == "type")


@contextmanager
def listening() -> Iterator[Listener]:
    listener = Listener()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            with listener.lock:
                listener.received.append(body)
                listener.headers.append(dict(self.headers))
                failing = len(listener.received) <= listener.fail_first
                held = _type(body) == "event-notification" and listener.hold_events > 0
                if held:
                    listener.hold_events -= 1
            if held:
                listener.hold.wait(timeout=60)
            status = 500 if failing else 200
            with listener.lock:
                listener.answered.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    listener.url = f"http://127.0.0.1:{server.server_address[1]}/notify"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        listener.hold.set()
        server.shutdown()
        server.server_close()

"""A loopback front for the browser test: the static test app and the server on one origin.

`/app/...` is served from tests/smart/app; every other request is forwarded unchanged
to the server process (no redirects followed). The app, the FHIR API and the sign-in
pages then share one origin, so the test needs no CORS (another change adds that).
"""

from __future__ import annotations

import mimetypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

APP_DIR = Path(__file__).resolve().parent / "app"
# Hop-by-hop headers (RFC 9110 §7.6.1) and those httpx sets itself.
_SKIP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def _handler(upstream: str) -> type[BaseHTTPRequestHandler]:
    client = httpx.Client(base_url=upstream, follow_redirects=False, timeout=30)

    class Front(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _static(self) -> None:
            relative = self.path.split("?")[0].removeprefix("/app/")
            path = (APP_DIR / relative).resolve()
            if not path.is_relative_to(APP_DIR) or not path.is_file():
                self.send_error(404)
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _SKIP}
            answer = client.request(self.command, self.path, content=body, headers=headers)
            self.send_response(answer.status_code)
            for name, value in answer.headers.multi_items():
                if name.lower() not in _SKIP and name.lower() != "content-encoding":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def do_GET(self) -> None:
            if self.path.startswith("/app/"):
                self._static()
            else:
                self._forward()

        do_POST = do_PUT = do_DELETE = _forward

    return Front


@contextmanager
def front(port: int, upstream: str) -> Iterator[str]:
    """Serve on 127.0.0.1:`port` until the block ends; yields the origin."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(upstream))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()

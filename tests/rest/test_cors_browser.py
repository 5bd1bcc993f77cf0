"""CORS in a real browser: a page on another loopback port calls `esp-careplans serve`.

Headless Chromium loads a page from a small static server on one port (an allowed
origin) and from another (not allowed); the page calls the FHIR API with a bearer
token and FHIR's headers, so every call is preflighted. The allowed page reads the
exposed headers; the other page's calls are blocked by the browser.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.browser import chromium, ensure_chromium
from tests.support.databases import migrate
from tests.support.resources import patient
from tests.support.servers import RunningServer, free_port, running_server

pytestmark = pytest.mark.slow
pytest.importorskip("playwright.sync_api")

PAGE = b"<!doctype html><html><head><title>FHIR app</title></head><body>app</body></html>"

# Runs in the page: create, read (ETag), update with If-Match, HEAD, search, delete.
SCRIPT = """
async ({base, token, patient}) => {
  const auth = {"Authorization": "Bearer " + token};
  const json = {
    ...auth, "Content-Type": "application/fhir+json", "Accept": "application/fhir+json",
  };
  const created = await fetch(base + "/Patient", {
    method: "POST", headers: {...json, "Prefer": "return=representation"},
    body: JSON.stringify(patient),
  });
  const body = await created.json();
  const location = created.headers.get("Location");
  const read = await fetch(base + "/Patient/" + body.id, {headers: auth});
  const etag = read.headers.get("ETag");
  const updated = await fetch(base + "/Patient/" + body.id, {
    method: "PUT", headers: {...json, "If-Match": etag},
    body: JSON.stringify({...body, gender: "other"}),
  });
  const stale = await fetch(base + "/Patient/" + body.id, {
    method: "PUT", headers: {...json, "If-Match": etag},
    body: JSON.stringify({...body, gender: "female"}),
  });
  const head = await fetch(base + "/Patient/" + body.id, {method: "HEAD", headers: auth});
  const search = await fetch(base + "/Patient?_id=" + body.id, {
    headers: {...auth, "Prefer": "handling=strict"},
  });
  const refused = await fetch(base + "/Patient");
  const removed = await fetch(base + "/Patient/" + body.id, {method: "DELETE", headers: auth});
  return {
    created: created.status, location, contentLocation: created.headers.get("Content-Location"),
    lastModified: created.headers.get("Last-Modified"),
    requestId: created.headers.get("X-Request-Id"),
    etag, updated: updated.status, updatedEtag: updated.headers.get("ETag"), stale: stale.status,
    head: head.status, headEtag: head.headers.get("ETag"), search: (await search.json()).total,
    refused: refused.status, wwwAuthenticate: refused.headers.get("WWW-Authenticate"),
    removed: removed.status,
  };
}
"""

BLOCKED = """
async ({base, token}) => {
  try {
    await fetch(base + "/Patient", {headers: {"Authorization": "Bearer " + token}});
    return "answered";
  } catch (error) {
    return "blocked: " + error.name;
  }
}
"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *_args: Any) -> None:
        pass


def _page_server() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def pages() -> Iterator[tuple[str, str]]:
    allowed, other = _page_server(), _page_server()
    yield (f"http://127.0.0.1:{allowed.server_port}", f"http://127.0.0.1:{other.server_port}")
    for server in (allowed, other):
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def fhir(
    pages: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    ensure_chromium()
    url = f"sqlite:///{tmp_path_factory.mktemp('cors') / 'cors.db'}"
    migrate(url)
    with running_server(url, workers=1, env={"ESP_CORS_ORIGINS": pages[0]}) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as instance:
        yield instance


def _open(browser: Any, origin: str) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.goto(origin + "/")
    return page


def test_a_page_on_an_allowed_origin_uses_the_api_and_reads_the_fhir_headers(
    browser: Any, fhir: RunningServer, pages: tuple[str, str]
) -> None:
    page = _open(browser, pages[0])
    token = fhir.tokens.system(scopes="system/*.cruds")
    result = page.evaluate(SCRIPT, {"base": fhir.base, "token": token, "patient": patient()})
    page.context.close()
    assert result["created"] == 201
    assert result["location"].startswith(f"{fhir.base}/Patient/")
    assert result["contentLocation"] == result["location"]
    assert result["lastModified"] and result["requestId"]
    assert result["etag"] == 'W/"1"'
    assert (result["updated"], result["updatedEtag"]) == (200, 'W/"2"')
    assert result["stale"] == 412
    assert (result["head"], result["headEtag"]) == (200, 'W/"2"')
    assert result["search"] == 1
    assert result["refused"] == 401 and result["wwwAuthenticate"]
    assert result["removed"] == 204


def test_a_page_on_another_origin_is_blocked_by_the_browser(
    browser: Any, fhir: RunningServer, pages: tuple[str, str]
) -> None:
    page = _open(browser, pages[1])
    token = fhir.tokens.system(scopes="system/*.cruds")
    result = page.evaluate(BLOCKED, {"base": fhir.base, "token": token})
    page.context.close()
    assert result == "blocked: TypeError"

"""The API explorer works offline: /docs and /redoc load only assets we serve (#16 part 5)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.support.browser import chromium
from tests.support.databases import migrate
from tests.support.servers import running_server

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def assets(page: str) -> list[str]:
    return ASSET.findall(page)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_explorer_pages_load_only_local_assets(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    links = assets(page.text)
    assert links, "the page names its script"
    for link in links:
        assert not urlsplit(link).netloc, f"{path} loads {link} from elsewhere"
        asset = client.get(link)
        assert asset.status_code == 200, link
        assert len(asset.content) > 1000, link
    assert "https://" not in page.text


def test_the_oauth2_redirect_page_is_local(client: TestClient) -> None:
    page = client.get("/docs/oauth2-redirect")
    assert page.status_code == 200
    assert "https://" not in page.text


@pytest.mark.slow
def test_swagger_ui_renders_the_document_with_the_network_cut_off(
    tmp_path: Path,
) -> None:
    """In Chromium, every request off the server is aborted; the operations still render."""
    url = f"sqlite:///{tmp_path}/docs.db"
    migrate(url)
    with running_server(url, workers=1) as server, chromium() as browser:
        origin = server.base.removesuffix("/fhir")
        page = browser.new_page()
        outside: list[str] = []

        def only_ours(route: object) -> None:
            request = route.request  # type: ignore[attr-defined]
            if request.url.startswith(origin):
                route.continue_()  # type: ignore[attr-defined]
            else:
                outside.append(request.url)
                route.abort()  # type: ignore[attr-defined]

        page.route("**/*", only_ours)
        page.goto(f"{origin}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        assert page.locator(".opblock").count() > 50
        assert page.locator(".errors-wrapper").count() == 0
        assert outside == []
        page.close()

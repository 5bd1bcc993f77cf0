"""fhirclient.js completes a real standalone launch in headless Chromium (Playwright).

`FHIR.oauth2.authorize()` on a small static test app (tests/smart/app, fhirclient from
the npm registry via its committed package-lock.json) discovers the dev issuer through
.well-known/smart-configuration, sends the user to the Danish sign-in page with PKCE
S256, Kirsten picks her son Lars in the child picker, and `ready()` exchanges the code
and reads Lars' data with the token; the app also refreshes once.

The app is served on loopback from the same origin as the server (tests/smart/front.py
forwards everything but /app/ to the server process), so nothing here depends on CORS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.settings import DEMO_CPR_REGISTRY_SOR
from tests.portal import data
from tests.smart.front import APP_DIR, front
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, ensure_chromium
from tests.support.databases import migrate
from tests.support.node import ensure_npm_ci
from tests.support.servers import free_port, running_server
from tests.support.smart import app_registration

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api")

FHIRCLIENT_JS = APP_DIR / "node_modules" / "fhirclient" / "build" / "fhir-client.js"


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    ensure_chromium()
    ensure_npm_ci(APP_DIR, FHIRCLIENT_JS)
    folder = tmp_path_factory.mktemp("smart-js")
    url = f"sqlite:///{folder / 'smart.db'}"
    migrate(url)
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    clients = folder / "clients.json"
    registration = app_registration("js-test-app", [f"{public}/app/index.html"])
    clients.write_text(json.dumps({"clients": [registration]}))
    env = {
        "ESP_ENV": "development",
        "ESP_BASE_URL": f"{public}/fhir",
        "ESP_CLIENTS_FILE": str(clients),
    }
    with running_server(url, workers=2, env=env) as server:
        upstream = server.base.removesuffix("/fhir")

        def sender(sor: str) -> data.Send:
            # Tokens of the test issuer name the public base URL as their audience.
            token = server.tokens.system(sor=sor, scopes="system/*.cruds", aud=f"{public}/fhir")
            headers = {"Authorization": f"Bearer {token}"}

            def send(method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
                answer = httpx.request(
                    method, f"{upstream}/fhir/{path}".rstrip("/"), json=body, headers=headers
                )
                assert answer.status_code < 300, answer.text
                return dict(answer.json())

            return send

        # People and custody as the CPR registry feed (a development custody authority).
        families = data.create_families(sender(data.HOSPITAL_SOR), sender(DEMO_CPR_REGISTRY_SOR))
        with front(port, upstream) as served:
            yield served, families


def test_fhirclient_js_standalone_launch_for_a_child(origin: tuple[str, dict[str, Any]]) -> None:
    served, families = origin
    lars = families["patients"][data.LARS]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="da-DK")
            page.goto(f"{served}/app/launch.html")
            page.wait_for_url(re.compile(r"/auth/authorize\?"))
            page.get_by_role("button", name="Log ind som Kirsten Berggren").click()
            # The child picker: herself and Lars; not Gitte (16, sundhedsloven §39a).
            choices = page.locator("button[name=subject]")
            choices.first.wait_for()
            labels = [text.strip() for text in choices.all_inner_texts()]
            assert labels == ["Mig selv", "Lars Berggren, " + labels[1].split(", ")[1]]
            page.get_by_role("button", name=re.compile(r"^Lars Berggren")).click()
            page.wait_for_url(re.compile(r"/app/index\.html"))
            result = page.locator("#result")
            result.filter(has_text=re.compile("patientId|ERROR")).wait_for(timeout=20_000)
            text = result.inner_text()
            assert not text.startswith("ERROR"), text
            outcome = json.loads(text)
        finally:
            browser.close()
    assert outcome["patientId"] == lars
    assert outcome["patientName"] == "Lars"
    assert sorted(outcome["planIds"]) == sorted(families["lars_plans"])
    assert not set(outcome["planIds"]) & set(families["hidden_plans"])  # §37 stk. 2
    assert outcome["fhirUser"].startswith("RelatedPerson/")  # fhirclient.js strips the base
    assert outcome["userType"] == "RelatedPerson"
    assert "launch/patient" in outcome["scope"] and "patient/*.rs" in outcome["scope"]
    assert outcome["refreshed"] is True

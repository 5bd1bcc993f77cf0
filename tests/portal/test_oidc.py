"""Production mode: no persona page; login redirects to the IdP built from its metadata."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.portal import portal_router
from app.portal.config import OidcSettings
from app.settings import Settings

IDP = "https://idp.example.dk/realms/borger"
METADATA = {
    "issuer": IDP,
    "authorization_endpoint": f"{IDP}/protocol/openid-connect/auth",
    "token_endpoint": f"{IDP}/protocol/openid-connect/token",
    "jwks_uri": f"{IDP}/protocol/openid-connect/certs",
}


def idp(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/.well-known/openid-configuration"):
        return httpx.Response(200, json=METADATA)
    if request.url.path.endswith("/token"):
        return httpx.Response(400, json={"error": "invalid_grant"})
    return httpx.Response(404)


@pytest.fixture
def production(tmp_path: Path) -> Iterator[TestClient]:
    from tests.support.databases import migrate

    url = f"sqlite:///{tmp_path / 'portal.db'}"
    migrate(url)
    settings = Settings(env="production", database_url=url, base_url="https://esp.example.dk/fhir")
    oidc = OidcSettings(
        issuer=IDP,
        client_id="esp-portal",
        client_secret="s3cret",
        redirect_uri="https://esp.example.dk/portal/login/callback",
    )
    app = FastAPI()
    app.include_router(portal_router(settings, oidc=oidc, oidc_transport=httpx.MockTransport(idp)))
    with TestClient(app, base_url="https://esp.example.dk") as client:
        yield client


def test_production_hides_the_persona_page(production: TestClient) -> None:
    page = production.get("/portal/login")
    assert "testperson" not in page.text
    assert "Kirsten" not in page.text
    assert 'href="/portal/login/oidc"' in page.text
    assert production.post("/portal/login", data={"persona": "pia"}).status_code == 404


def test_login_redirects_to_the_idps_authorize_endpoint(production: TestClient) -> None:
    answer = production.get("/portal/login/oidc", follow_redirects=False)
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == METADATA["authorization_endpoint"]
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == "esp-portal"
    assert query["redirect_uri"] == "https://esp.example.dk/portal/login/callback"
    assert query["code_challenge_method"] == "S256"
    assert query["scope"].split() == ["openid", "patient/*.rs", "patient/Consent.cu"]
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert "__Host-esp_portal" in answer.headers["set-cookie"]


def test_callback_with_a_wrong_state_is_refused(production: TestClient) -> None:
    production.get("/portal/login/oidc", follow_redirects=False)
    answer = production.get("/portal/login/callback?code=abc&state=forged")
    assert answer.status_code == 400
    assert "Login mislykkedes" in answer.text


def test_callback_with_a_refused_code_fails_without_details(production: TestClient) -> None:
    redirect = production.get("/portal/login/oidc", follow_redirects=False)
    state = parse_qs(urlsplit(redirect.headers["location"]).query)["state"][0]
    answer = production.get(f"/portal/login/callback?code=abc&state={state}")
    assert answer.status_code == 502
    assert "invalid_grant" not in answer.text
    assert json.dumps(METADATA["token_endpoint"]) not in answer.text

"""Production mode: no persona page; login redirects to the IdP built from its metadata."""

from __future__ import annotations

import json
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.portal import portal_router
from app.portal.config import OidcSettings
from app.portal.oidc import OidcError, OidcLogin
from app.portal.tokens import TokenUnavailable
from app.settings import Settings
from tests.support.tokens import public_jwks, signing_key

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


def recording_idp(seen: list[httpx.Request], token: dict[str, object]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            seen.append(request)
            return httpx.Response(200, json=token)
        if request.url.path.endswith("/certs"):
            return httpx.Response(200, json=public_jwks(signing_key("ES256", "idp")))
        return idp(request)

    return httpx.MockTransport(answer)


def oidc_login(transport: httpx.MockTransport, secret: str = "s3cret") -> OidcLogin:
    settings = OidcSettings(
        issuer=IDP,
        client_id="esp-portal",
        client_secret=secret,
        redirect_uri="https://esp.example.dk/portal/login/callback",
    )
    return OidcLogin(settings, transport)


async def test_the_code_is_redeemed_with_the_verifier_and_basic_client_credentials() -> None:
    seen: list[httpx.Request] = []
    login = oidc_login(recording_idp(seen, {"access_token": "at", "id_token": "not-a-jwt"}))
    with pytest.raises(OidcError, match="ID token"):
        await login.finish("the-code", "the-verifier", "the-nonce")
    (request,) = seen
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "https://esp.example.dk/portal/login/callback",
        "code_verifier": "the-verifier",
    }
    assert request.headers["authorization"] == "Basic " + b64encode(b"esp-portal:s3cret").decode()


async def test_a_childs_token_comes_from_a_token_exchange() -> None:
    seen: list[httpx.Request] = []
    login = oidc_login(recording_idp(seen, {"access_token": "child", "expires_in": 60}), secret="")
    token = await login.child_tokens("parent-token", "https://esp.example.dk/fhir")("0505159995")
    assert (token.access_token, token.expires_in) == ("child", 60)
    form = {k: v[0] for k, v in parse_qs(seen[0].content.decode()).items()}
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert form["subject_token"] == "parent-token"
    assert form["dk_citizen_cpr"] == "0505159995"
    assert form["audience"] == "https://esp.example.dk/fhir"
    assert form["client_id"] == "esp-portal"  # a public client names itself
    assert "authorization" not in seen[0].headers


async def test_a_refused_exchange_gives_no_token() -> None:
    login = oidc_login(httpx.MockTransport(idp))
    with pytest.raises(TokenUnavailable):
        await login.child_tokens("parent-token", "https://esp.example.dk/fhir")("0505159995")

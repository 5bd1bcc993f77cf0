"""The HTTP edge in the app: response headers, HEAD, OPTIONS, CORS, production mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.auth.errors import ConfigError
from app.main import create_app
from app.settings import Settings
from tests.support.databases import truncate_all
from tests.support.resources import patient
from tests.support.tokens import TokenFactory

FHIR_JSON = {"Content-Type": "application/fhir+json"}
ORIGIN = "http://127.0.0.1:5173"
AppFactory = Callable[..., FastAPI]


@pytest.fixture
def app_with(settings: Settings, tokens: TokenFactory) -> AppFactory:
    """The app on an empty database with some settings changed."""

    def build(**overrides: Any) -> FastAPI:
        truncate_all(settings.database_url)
        return create_app(settings.model_copy(update=overrides), auth=tokens.auth_service())

    return build


@pytest.fixture
def cors(app_with: AppFactory, client: TestClient) -> Iterator[TestClient]:
    """A client of the app with ESP_CORS_ORIGINS set to ORIGIN (the hospital's token)."""
    with TestClient(app_with(cors_origins=[ORIGIN]), headers=client.headers) as local:
        yield local


def _created(client: TestClient) -> str:
    response = client.post("/fhir/Patient", json=patient(), headers=FHIR_JSON)
    assert response.status_code == 201
    return str(response.json()["id"])


# -- Cache-Control and nosniff ----------------------------------------------------------


def test_every_fhir_and_auth_response_is_no_store_and_nosniff(client: TestClient) -> None:
    pid = _created(client)
    anonymous = TestClient(client.app)
    answers = [
        client.get(f"/fhir/Patient/{pid}"),
        client.get("/fhir/Patient"),
        client.get("/fhir/Patient/unknown"),
        client.get("/fhir/metadata"),
        anonymous.get("/fhir/Patient"),  # 401
        anonymous.post("/auth/token", data={"grant_type": "client_credentials"}),
    ]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store", answer.url
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url


def test_public_discovery_keeps_its_own_caching_but_is_nosniff(client: TestClient) -> None:
    answer = client.get("/fhir/.well-known/smart-configuration")
    if answer.status_code == 200:
        assert answer.headers["cache-control"] == "public, max-age=300"
    assert answer.headers["x-content-type-options"] == "nosniff"


# -- HEAD -----------------------------------------------------------------------------


def test_head_answers_the_get_headers_without_a_body(client: TestClient) -> None:
    pid = _created(client)
    for path in (
        f"/fhir/Patient/{pid}",
        f"/fhir/Patient/{pid}/_history/1",
        f"/fhir/Patient/{pid}/_history",
        "/fhir/Patient/_history",
        "/fhir/_history",
        "/fhir/Patient",
        "/fhir",
        "/fhir/metadata",
        "/fhir/StructureDefinition",
    ):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b"", path
        for name in ("content-type", "etag", "last-modified", "cache-control"):
            assert head.headers.get(name) == get.headers.get(name), (path, name)
    read = client.head(f"/fhir/Patient/{pid}")
    assert read.headers["etag"] == 'W/"1"'
    assert int(read.headers["content-length"]) == len(client.get(f"/fhir/Patient/{pid}").content)


def test_head_needs_a_token_and_is_404_or_405_like_get(client: TestClient) -> None:
    assert TestClient(client.app).head("/fhir/Patient").status_code == 401
    assert client.head("/fhir/Patient/unknown").status_code == 404
    assert client.head("/auth/token").status_code == 405  # POST only


# -- OPTIONS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/fhir/Patient", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        ("/fhir/Patient/123", "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"),
        ("/fhir/Patient/123/_history/1", "GET, HEAD, OPTIONS"),
        ("/fhir/metadata", "GET, HEAD, OPTIONS"),
        ("/fhir", "GET, HEAD, POST, OPTIONS"),
        ("/auth/token", "POST, OPTIONS"),
    ],
)
def test_options_answers_with_allow(client: TestClient, path: str, allow: str) -> None:
    answer = TestClient(client.app).options(path)  # no token needed, no CORS configured
    assert answer.status_code == 204
    assert answer.headers["allow"] == allow
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in answer.headers


def test_options_on_an_unknown_path_is_404(client: TestClient) -> None:
    answer = client.options("/fhir/Nonsense/1/2/3")
    assert answer.status_code == 404
    assert answer.json()["resourceType"] == "OperationOutcome"


# -- CORS -------------------------------------------------------------------------------


def test_no_cors_headers_without_configured_origins(client: TestClient) -> None:
    answer = client.get("/fhir/metadata", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in answer.headers
    preflight = client.options(
        "/fhir/Patient", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PUT"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_the_capability_statement_says_whether_cors_is_on(
    client: TestClient, cors: TestClient
) -> None:
    assert client.get("/fhir/metadata").json()["rest"][0]["security"]["cors"] is False
    assert cors.get("/fhir/metadata").json()["rest"][0]["security"]["cors"] is True


def test_preflight_from_an_allowed_origin(cors: TestClient) -> None:
    answer = TestClient(cors.app).options(
        "/fhir/Patient/1",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type,if-match",
        },
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in answer.headers["vary"]
    methods = {m.strip() for m in answer.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} <= methods
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {
        "authorization",
        "content-type",
        "if-match",
        "if-none-exist",
        "if-none-match",
        "prefer",
        "x-consent-override",
    } <= allowed
    assert int(answer.headers["access-control-max-age"]) > 0
    assert "access-control-allow-credentials" not in answer.headers


def test_actual_requests_from_an_allowed_origin_expose_the_fhir_headers(cors: TestClient) -> None:
    created = cors.post("/fhir/Patient", json=patient(), headers={**FHIR_JSON, "Origin": ORIGIN})
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == ORIGIN
    assert created.headers["vary"] == "Origin"
    assert cors.get("/fhir/metadata").headers["vary"] == "Origin"  # no Origin sent
    exposed = {h.strip() for h in created.headers["access-control-expose-headers"].split(",")}
    assert {"Location", "ETag", "Content-Location", "Last-Modified", "X-Request-Id"} <= exposed
    assert {"Retry-After", "X-Progress"} <= exposed  # a browser app polling a Bulk export
    refused = TestClient(cors.app).get("/fhir/Patient", headers={"Origin": ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ORIGIN
    assert "WWW-Authenticate" in refused.headers["access-control-expose-headers"]


def test_other_origins_and_the_portal_get_no_cors_headers(cors: TestClient) -> None:
    for origin in ("http://127.0.0.1:9999", "https://evil.example", "null"):
        answer = cors.get("/fhir/metadata", headers={"Origin": origin})
        assert "access-control-allow-origin" not in answer.headers, origin
        assert answer.headers["vary"] == "Origin"  # caches keep answers per origin
        preflight = cors.options(
            "/fhir/Patient", headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
        )
        assert "access-control-allow-origin" not in preflight.headers, origin
    portal = cors.get("/portal/login", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in portal.headers


def test_any_origin_never_allows_credentials(app_with: AppFactory) -> None:
    with TestClient(app_with(cors_origins=["*"])) as local:
        answer = local.get("/fhir/metadata", headers={"Origin": "https://any.example"})
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in answer.headers
    with pytest.raises(ConfigError, match="CREDENTIALS"):
        app_with(cors_origins=["*"], cors_allow_credentials=True)


def test_credentials_only_for_listed_origins(app_with: AppFactory) -> None:
    with TestClient(app_with(cors_origins=[ORIGIN], cors_allow_credentials=True)) as local:
        answer = local.get("/fhir/metadata", headers={"Origin": ORIGIN})
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert answer.headers["access-control-allow-credentials"] == "true"


def test_cors_origins_setting_takes_json_or_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESP_CORS_ORIGINS", '["https://a.example.dk", "https://b.example.dk"]')
    assert Settings().cors_origins == ["https://a.example.dk", "https://b.example.dk"]
    monkeypatch.setenv("ESP_CORS_ORIGINS", "https://a.example.dk, http://127.0.0.1:5173")
    assert Settings().cors_origins == ["https://a.example.dk", "http://127.0.0.1:5173"]
    monkeypatch.delenv("ESP_CORS_ORIGINS")
    assert Settings().cors_origins == []


def test_a_malformed_origin_is_refused_at_startup(app_with: AppFactory) -> None:
    with pytest.raises(ConfigError, match="not an origin"):
        app_with(cors_origins=["app.example.dk"])


# -- production mode -------------------------------------------------------------------


def test_production_refuses_an_http_base_url(app_with: AppFactory) -> None:
    with pytest.raises(ConfigError, match="ESP_BASE_URL must be an https URL"):
        app_with(env="production", base_url="http://esp.example.dk/fhir")


def test_production_hides_the_api_docs_unless_asked(app_with: AppFactory) -> None:
    production = {"env": "production", "base_url": "https://esp.example.dk/fhir"}
    with TestClient(app_with(**production)) as local:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert local.get(path).status_code == 404, path
    with TestClient(app_with(**production, docs=True)) as local:
        assert local.get("/docs").status_code == 200
        assert local.get("/openapi.json").json()["openapi"].startswith("3.")
    with TestClient(app_with()) as development:
        assert development.get("/docs").status_code == 200

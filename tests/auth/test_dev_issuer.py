"""The embedded development issuer: dev tokens, JWKS, discovery, key sharing, production guard."""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from app.auth.dev_issuer import DevIssuer, issuer_url
from app.auth.errors import ConfigError
from app.auth.keys import load_or_create_signing_key
from app.auth.service import AuthService, build_auth_service, check_startup
from app.settings import Settings
from tests.auth.app import BASE_URL, http
from tests.support.tokens import (
    HOSPITAL_SOR,
    KIRSTEN_BERGGREN,
    LARS_BERGGREN,
    NIELS_VENDELBOE,
    PIA_BERGGREN,
    BackendClient,
    TokenFactory,
    bearer,
    clients_document,
)

PERSONAS: list[dict[str, Any]] = [
    {"dk_user_type": "system", "dk_org_sor": HOSPITAL_SOR, "scope": "system/*.cruds"},
    {
        "dk_user_type": "professional",
        "dk_org_sor": HOSPITAL_SOR,
        "dk_acting_cpr": NIELS_VENDELBOE,
        "scope": "user/*.cruds",
    },
    {
        "dk_user_type": "citizen",
        "dk_acting_cpr": PIA_BERGGREN,
        "dk_citizen_cpr": PIA_BERGGREN,
        "dk_relation": "self",
        "scope": "patient/*.rs",
    },
    {
        "dk_user_type": "citizen",
        "dk_acting_cpr": KIRSTEN_BERGGREN,
        "dk_citizen_cpr": LARS_BERGGREN,
        "dk_relation": "custody",
        "scope": "patient/*.rs",
    },
]


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: f"{p['dk_user_type']}")
async def test_dev_token_for_personas(dev_service: AuthService, persona: dict[str, Any]) -> None:
    async with http(dev_service) as client:
        response = await client.post("/auth/dev-token", json=persona)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
        who = await client.get("/fhir/whoami", headers=bearer(body["access_token"]))
    assert who.status_code == 200
    assert who.json()["user_type"] == persona["dk_user_type"]
    assert who.json()["scopes"] == persona["scope"]


@pytest.mark.parametrize(
    "body",
    [
        {"dk_user_type": "citizen", "dk_acting_cpr": PIA_BERGGREN, "dk_citizen_cpr": PIA_BERGGREN},
        {
            "dk_user_type": "citizen",
            "dk_acting_cpr": KIRSTEN_BERGGREN,
            "dk_citizen_cpr": LARS_BERGGREN,
            "dk_relation": "self",
        },
        {"dk_user_type": "professional", "dk_org_sor": HOSPITAL_SOR},
        {"dk_user_type": "system"},
        {"dk_user_type": "root"},
        {"dk_user_type": "system", "dk_org_sor": HOSPITAL_SOR, "iss": "https://evil"},
        {"dk_user_type": "system", "dk_org_sor": HOSPITAL_SOR, "aud": "https://other"},
        {"dk_user_type": "system", "dk_org_sor": HOSPITAL_SOR, "exp": 9999999999},
        {"dk_user_type": "system", "dk_org_sor": HOSPITAL_SOR, "expires_in": 86400},
        {"dk_user_type": "system", "dk_org_sor": HOSPITAL_SOR, "expires_in": "600"},
        ["dk_user_type", "system"],
    ],
)
async def test_dev_token_refuses_what_would_be_no_valid_principal(
    dev_service: AuthService, body: Any
) -> None:
    async with http(dev_service) as client:
        response = await client.post("/auth/dev-token", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_dev_token_is_404_in_production(dev_issuer: DevIssuer, tf: TokenFactory) -> None:
    service = AuthService(tf.validator(), dev_issuer=dev_issuer, env="production")
    async with http(service) as client:
        response = await client.post("/auth/dev-token", json=PERSONAS[0])
    assert response.status_code == 404


async def test_issuer_endpoints_are_404_without_the_dev_issuer(tf: TokenFactory) -> None:
    async with http(tf.auth_service()) as client:
        assert (await client.post("/auth/dev-token", json=PERSONAS[0])).status_code == 404
        assert (await client.get("/auth/jwks.json")).status_code == 404
        assert (await client.post("/auth/token", data={})).status_code == 404
        assert (await client.get("/fhir/.well-known/smart-configuration")).status_code == 404


async def test_jwks_publishes_only_the_public_key(dev_service: AuthService) -> None:
    async with http(dev_service) as client:
        response = await client.get("/auth/jwks.json")
    keys = response.json()["keys"]
    assert len(keys) == 1
    assert keys[0]["alg"] == "ES384" and keys[0]["use"] == "sig" and keys[0]["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(keys[0])


async def test_smart_configuration(dev_service: AuthService) -> None:
    async with http(dev_service) as client:
        response = await client.get("/fhir/.well-known/smart-configuration")
    config = response.json()
    assert config["issuer"] == "http://testserver/auth"
    assert config["token_endpoint"] == "http://testserver/auth/token"
    assert config["jwks_uri"] == "http://testserver/auth/jwks.json"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert config["grant_types_supported"] == ["client_credentials"]
    assert "client-confidential-asymmetric" in config["capabilities"]
    assert "permission-v2" in config["capabilities"]
    assert "system/*.cruds" in config["scopes_supported"]
    assert "authorization_endpoint" not in config


def test_capability_statement_security(dev_service: AuthService) -> None:
    security = dev_service.capability_security()
    coding = security["service"][0]["coding"][0]
    assert coding == {
        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
        "code": "SMART-on-FHIR",
    }
    (oauth_uris,) = security["extension"]
    assert (
        oauth_uris["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    )
    assert oauth_uris["extension"] == [{"url": "token", "valueUri": "http://testserver/auth/token"}]


def test_capability_statement_security_without_a_token_endpoint(tf: TokenFactory) -> None:
    assert "extension" not in tf.auth_service().capability_security()


@pytest.mark.parametrize(
    ("base_url", "issuer"),
    [
        ("http://127.0.0.1:8080/fhir", "http://127.0.0.1:8080/auth"),
        ("https://esp.example.dk/fhir/", "https://esp.example.dk/auth"),
        ("https://esp.example.dk/api/fhir", "https://esp.example.dk/api/auth"),
        ("https://esp.example.dk/r4", "https://esp.example.dk/r4/auth"),
    ],
)
def test_issuer_url(base_url: str, issuer: str) -> None:
    assert issuer_url(base_url) == issuer


# --- the signing key file ----------------------------------------------------------------


def test_key_file_is_created_once_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "dev-issuer-key.json"
    first = load_or_create_signing_key(path)
    second = load_or_create_signing_key(path)
    assert first.kid == second.kid
    assert first.is_private
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["dev-issuer-key.json"]  # no temp left


def test_rs384_key_file(tmp_path: Path) -> None:
    key = load_or_create_signing_key(tmp_path / "rsa.json", "RS384")
    assert key.get("alg") == "RS384"


def _kid_in_a_new_process(path: str) -> str:
    return str(load_or_create_signing_key(Path(path)).kid)


def test_worker_processes_racing_at_startup_share_one_key(tmp_path: Path) -> None:
    path = str(tmp_path / "dev-issuer-key.json")
    with ProcessPoolExecutor(max_workers=6) as pool:
        kids = set(pool.map(_kid_in_a_new_process, [path] * 12))
    assert len(kids) == 1


@pytest.mark.parametrize(
    "content",
    ["{broken", json.dumps({"kty": "oct", "k": "AAAA"}), "PUBLIC"],
)
def test_unusable_key_file_stops_startup(tmp_path: Path, content: str) -> None:
    path = tmp_path / "key.json"
    if content == "PUBLIC":
        key = load_or_create_signing_key(tmp_path / "other.json")
        content = json.dumps(key.as_dict(private=False))
    path.write_text(content)
    with pytest.raises(ConfigError):
        load_or_create_signing_key(path)


# --- startup: the production guard and building from settings ----------------------------


def settings(**values: Any) -> Settings:
    defaults: dict[str, Any] = {"base_url": BASE_URL, "trusted_issuers": "[]", "clients_file": None}
    return Settings(**{**defaults, **values})


def test_startup_refuses_the_dev_issuer_in_production() -> None:
    with pytest.raises(ConfigError, match="production"):
        check_startup(settings(env="production", dev_issuer=True))


@pytest.mark.parametrize(
    "values",
    [
        {"env": "production"},
        {"env": "production", "dev_issuer": False},
        {"env": "development"},
        {"env": "development", "dev_issuer": False},
    ],
)
def test_startup_accepts_safe_configurations(values: dict[str, Any]) -> None:
    check_startup(settings(**values))


def test_dev_issuer_is_off_by_default_in_production(tmp_path: Path) -> None:
    service = build_auth_service(settings(env="production"), dev_key_path=tmp_path / "k.json")
    assert service.dev_issuer is None
    assert not (tmp_path / "k.json").exists()


def test_build_refuses_the_dev_issuer_in_production(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        build_auth_service(settings(env="production", dev_issuer=True), dev_key_path=tmp_path / "k")


async def test_built_development_service_end_to_end(tmp_path: Path) -> None:
    """From settings: clients file, trusted issuer file, dev issuer key under var/."""
    backend = BackendClient("kommune-app")
    clients_file = tmp_path / "clients.json"
    clients_file.write_text(json.dumps(clients_document(backend)))
    tf = TokenFactory(BASE_URL)
    trusted = tf.trusted_issuers_json(tmp_path / "idp-jwks.json")
    service = build_auth_service(
        settings(env="development", clients_file=clients_file, trusted_issuers=trusted),
        dev_key_path=tmp_path / "var" / "dev-issuer-key.json",
    )
    try:
        assert (tmp_path / "var" / "dev-issuer-key.json").exists()
        async with http(service) as client:
            token = await client.post(
                "/auth/token", data=backend.token_form("http://testserver/auth/token")
            )
            assert token.status_code == 200, token.text
            for access_token in (token.json()["access_token"], tf.professional()):
                who = await client.get("/fhir/whoami", headers=bearer(access_token))
                assert who.status_code == 200, who.text
    finally:
        await service.aclose()


def test_dev_issuer_must_not_be_listed_as_a_trusted_issuer(tmp_path: Path) -> None:
    trusted = json.dumps([{"issuer": "http://testserver/auth", "jwks_file": "x.json"}])
    with pytest.raises(ConfigError, match="dev issuer"):
        build_auth_service(settings(trusted_issuers=trusted), dev_key_path=tmp_path / "k.json")


def test_production_discovery_advertises_the_external_issuer(tmp_path: Path) -> None:
    trusted = json.dumps(
        [
            {
                "issuer": "https://login.example.dk",
                "jwks_uri": "https://login.example.dk/jwks",
                "token_endpoint": "https://login.example.dk/token",
            }
        ]
    )
    service = build_auth_service(settings(env="production", trusted_issuers=trusted))
    config = service.smart_configuration()
    assert config is not None
    assert config["issuer"] == "https://login.example.dk"
    assert config["token_endpoint"] == "https://login.example.dk/token"
    assert service.capability_security()["extension"][0]["extension"][0]["valueUri"] == (
        "https://login.example.dk/token"
    )


def test_production_discovery_advertises_the_idps_launch(tmp_path: Path) -> None:
    """A production IdP that runs the SMART launch (docs/authorization.md) is advertised."""
    trusted = json.dumps(
        [
            {
                "issuer": "https://login.example.dk",
                "jwks_uri": "https://login.example.dk/jwks",
                "token_endpoint": "https://login.example.dk/token",
                "authorization_endpoint": "https://login.example.dk/authorize",
            }
        ]
    )
    service = build_auth_service(settings(env="production", trusted_issuers=trusted))
    config = service.smart_configuration()
    assert config is not None
    assert config["authorization_endpoint"] == "https://login.example.dk/authorize"
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert "launch-standalone" in config["capabilities"]
    uris = service.capability_security()["extension"][0]["extension"]
    assert {"url": "authorize", "valueUri": "https://login.example.dk/authorize"} in uris

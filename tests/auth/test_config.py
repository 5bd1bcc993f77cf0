"""Configuration is checked at startup: trusted issuers and the clients file fail loudly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.auth.clients import ClientRegistry
from app.auth.errors import ConfigError
from app.auth.issuers import parse_trusted_issuers
from tests.support.smart import app_registration
from tests.support.tokens import BackendClient, clients_document, signing_key


def test_trusted_issuers() -> None:
    configs = parse_trusted_issuers(
        json.dumps(
            [
                {"issuer": "https://a.example", "jwks_uri": "https://a.example/jwks"},
                {"issuer": "https://b.example", "jwks_file": "/etc/esp/b.json"},
            ]
        )
    )
    assert [c.issuer for c in configs] == ["https://a.example", "https://b.example"]
    assert configs[0].jwks_uri == "https://a.example/jwks"
    assert configs[1].jwks_file == Path("/etc/esp/b.json")


@pytest.mark.parametrize(
    "entries",
    [
        "not json",
        json.dumps({"issuer": "x"}),
        json.dumps(["x"]),
        json.dumps([{"issuer": "", "jwks_uri": "https://a/jwks"}]),
        json.dumps([{"issuer": "https://a", "jwks_uri": "https://a/j", "jwks_file": "f"}]),
        json.dumps([{"issuer": "https://a"}]),
        json.dumps([{"issuer": "https://a", "jwks_url": "https://a/jwks"}]),  # typo
        json.dumps([{"issuer": "https://a", "jwks_uri": "http://a/jwks"}]),  # http in production
        json.dumps([{"issuer": "https://a", "jwks_uri": "file:///etc/passwd"}]),
        json.dumps([{"issuer": "https://a", "jwks_uri": "https://a/j"}] * 2),
    ],
)
def test_bad_trusted_issuers_stop_startup(entries: str) -> None:
    with pytest.raises(ConfigError):
        parse_trusted_issuers(entries)


def test_http_jwks_uri_only_in_development() -> None:
    entries = json.dumps([{"issuer": "http://idp:8081", "jwks_uri": "http://idp:8081/jwks"}])
    assert parse_trusted_issuers(entries, allow_http=True)[0].jwks_uri == "http://idp:8081/jwks"


def test_clients_file(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(clients_document(BackendClient("a"), BackendClient("b", "RS384"))))
    registry = ClientRegistry.load(path)
    assert len(registry) == 2
    client = registry.get("a")
    assert client is not None
    assert client.org == {"dk_org_sor": "100000000000615", "dk_org_kommunekode": "0615"}
    assert client.scope.allows("CarePlan", "create")
    assert registry.get("c") is None


def test_no_clients_file_means_no_clients() -> None:
    assert len(ClientRegistry.load(None)) == 0


def _with(**changes: Any) -> dict[str, Any]:
    entry = BackendClient("a").registration()
    entry.update(changes)
    return {"clients": [{k: v for k, v in entry.items() if v is not None}]}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "clients"),
        ({"clients": {}}, "clients"),
        (_with(jwks={"keys": [signing_key("ES384", "client:a").as_dict(private=True)]}), "private"),
        (_with(jwks={"keys": []}), "jwks"),
        (_with(jwks=None), "jwks"),
        (_with(scope="user/*.cruds"), "system/"),
        (_with(scope="system/*.sr"), "system/"),
        (_with(scope=None), "scope"),
        (_with(dk_org_sor=None), "dk_org_sor"),
        (_with(dk_org_sor="not-a-sor"), "dk_org_sor"),
        (_with(dk_org_kommunekode="615"), "kommunekode"),
        (_with(user_type="professional"), "system"),
        (_with(token_endpoint_auth_method="client_secret_basic"), "private_key_jwt"),
        (_with(organisation="x"), "unknown fields"),
        (_with(client_id=""), "client_id"),
        (_with(client_id="a\nb"), "client_id"),
        ({"clients": [BackendClient("a").registration()] * 2}, "twice"),
    ],
)
def test_bad_client_registrations_stop_startup(document: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ClientRegistry.from_document(document)


def test_unreadable_clients_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        ClientRegistry.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError):
        ClientRegistry.load(tmp_path / "bad.json")


CALLBACK = "http://127.0.0.1:9999/cb"


def _app(**changes: Any) -> dict[str, Any]:
    entry = app_registration("app", [CALLBACK])
    entry.update(changes)
    return {"clients": [{k: v for k, v in entry.items() if v is not None}]}


def test_app_registrations() -> None:
    public, confidential = ClientRegistry.from_document(
        {
            "clients": [
                app_registration("web", [CALLBACK, "https://app.example.dk/cb"]),
                app_registration("server", [CALLBACK], key=signing_key("ES384", "client:s")),
            ]
        }
    )
    assert public.is_app and public.is_public and public.redirect_uris[1].startswith("https")
    assert confidential.is_app and not confidential.is_public and len(confidential.keys.keys)
    assert public.org == {} and public.user_type == "citizen"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_app(redirect_uris=[]), "redirect_uris"),
        (_app(redirect_uris=None), "redirect_uris"),
        (_app(redirect_uris=["/relative"]), "absolute"),
        (_app(redirect_uris=[CALLBACK + "#frag"]), "fragment"),
        (_app(redirect_uris=["http://app.example.dk/cb"]), "https"),
        (_app(token_endpoint_auth_method=None), "token_endpoint_auth_method"),
        (_app(token_endpoint_auth_method="client_secret_basic"), "token_endpoint_auth_method"),
        (_app(token_endpoint_auth_method="private_key_jwt"), "jwks"),
        (_app(jwks={"keys": []}), "no jwks"),
        (_app(scope="system/*.rs"), "patient/"),
        (_app(scope="launch patient/*.rs"), "patient/"),  # no EHR launch here
        (_app(scope="patient/*.sr"), "patient/"),
        (_app(dk_org_sor="100000000000001"), "backend"),
        (_app(user_type="citizen"), "backend"),
        (_app(grant_types=["authorization_code", "client_credentials"]), "grant_types"),
        (_app(grant_types=["refresh_token"]), "grant_types"),
        (_app(grant_types="authorization_code"), "grant_types"),
        (_with(redirect_uris=[CALLBACK]), "redirect_uris"),
        (_with(scope="system/*.rs openid"), "system/"),
    ],
)
def test_bad_app_registrations_stop_startup(document: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ClientRegistry.from_document(document)


def test_a_trusted_issuer_may_name_its_authorization_endpoint() -> None:
    (config,) = parse_trusted_issuers(
        json.dumps(
            [
                {
                    "issuer": "https://idp.example.dk",
                    "jwks_uri": "https://idp.example.dk/jwks",
                    "token_endpoint": "https://idp.example.dk/token",
                    "authorization_endpoint": "https://idp.example.dk/authorize",
                }
            ]
        )
    )
    assert config.authorization_endpoint == "https://idp.example.dk/authorize"
    without_token = [
        {"issuer": "https://i", "jwks_uri": "https://i/j", "authorization_endpoint": "https://i/a"}
    ]
    with pytest.raises(ConfigError, match="token_endpoint"):
        parse_trusted_issuers(json.dumps(without_token))

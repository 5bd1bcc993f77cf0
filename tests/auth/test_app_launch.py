"""SMART App Launch 2.2 in the development issuer: authorize → sign-in → code → token → refresh.

The world of tests/access/world.py: Kirsten has verified custody (PARAUTH) of Lars (11),
Gitte (16), a child who turns 15 tomorrow and one who turns 15 today; Anders is Lars'
father (FTH) without custody; Einer is a citizen with his own record. Every test runs
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from app.auth.clients import ClientRegistry
from app.auth.dev_issuer import DevIssuer
from app.auth.launch import Citizen
from app.auth.service import AuthService
from app.auth.tokens import TokenValidator
from app.loader import LOADER
from app.main import create_app
from app.settings import Settings
from app.storage.engine import create_engine_async
from tests.access.world import (
    ANDERS_JENSEN,
    EINER,
    REGISTRY_SOR,
    RELATIONSHIP,
    Writes,
    load_world,
    load_writes,
)
from tests.auth.app import make_app
from tests.support.databases import truncate_all
from tests.support.smart import app_registration, button_values, hidden_field, pkce
from tests.support.tokens import (
    KIRSTEN_BERGGREN,
    BackendClient,
    TokenFactory,
    bearer,
    signing_key,
)

BASE = "http://testserver/fhir"
AUTHORIZE = "/auth/authorize"
TOKEN = "/auth/token"
TOKEN_URL = "http://testserver/auth/token"
CALLBACK = "http://127.0.0.1:9999/callback"
OTHER_CALLBACK = "http://127.0.0.1:9999/other"
CONFIDENTIAL = BackendClient("confidential-app", "ES384")
CITIZENS = (
    Citizen("kirsten", "Kirsten Berggren", KIRSTEN_BERGGREN, "Forælder"),
    Citizen("anders", "Anders Jensen", ANDERS_JENSEN, "Far uden forældremyndighed"),
    Citizen("einer", "Einer Lauridsen", EINER, "Borger"),
)


@pytest.fixture
def dev(settings: Settings) -> Iterator[DevIssuer]:
    registry = ClientRegistry.from_document(
        {
            "clients": [
                app_registration("web-app", [CALLBACK, OTHER_CALLBACK]),
                app_registration("other-app", [CALLBACK]),
                app_registration("code-only", [CALLBACK], grant_types=["authorization_code"]),
                app_registration("confidential-app", [CALLBACK], key=CONFIDENTIAL.key),
                BackendClient("backend").registration(),
            ]
        }
    )
    engine = create_engine_async(settings.database_url)
    yield DevIssuer(
        BASE,
        signing_key("ES384", "dev-issuer"),
        registry,
        engine=engine,
        citizens=CITIZENS,
        custody_authorities=settings.custody_authority_sors,
    )


@pytest.fixture
def client(settings: Settings, tokens: TokenFactory, dev: DevIssuer) -> Iterator[TestClient]:
    truncate_all(settings.database_url)
    load_world(settings)
    issuers = {**tokens.issuers(), dev.issuer: dev.jwks_source()}
    auth = AuthService(TokenValidator(issuers, BASE), dev_issuer=dev)
    with TestClient(create_app(settings, auth=auth), follow_redirects=False) as test_client:
        yield test_client


class Launch:
    """One app's standalone launch: its PKCE pair, state and the sign-in pages."""

    def __init__(self, client: TestClient, client_id: str = "web-app", **params: str) -> None:
        self.client = client
        self.verifier, challenge = pkce()
        self.params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "scope": "launch/patient openid fhirUser offline_access patient/*.rs",
            "state": "st8 æ/&=?",
            "aud": BASE,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "nonce": "n-0S6",
            **params,
        }
        self.params = {k: v for k, v in self.params.items() if v != "DROP"}

    def start(self) -> Any:
        return self.client.get(f"{AUTHORIZE}?{urlencode(self.params)}")

    def sign_in(self, persona: str) -> Any:
        page = self.start()
        assert page.status_code == 200, page.text
        assert button_values(page.text, "persona")
        return self.client.post(
            AUTHORIZE,
            data={"esp_request": hidden_field(page.text, "esp_request"), "persona": persona},
        )

    def choose(self, persona: str, subject: str) -> Any:
        picker = self.sign_in(persona)
        assert picker.status_code == 200, picker.text
        return self.client.post(
            AUTHORIZE,
            data={
                "esp_request": hidden_field(picker.text, "esp_request"),
                "persona": persona,
                "subject": subject,
            },
        )

    def code(self, answer: Any) -> str:
        query = redirect_query(answer)
        assert query["state"] == [self.params["state"]]
        return query["code"][0]

    def exchange(self, code: str, **overrides: str) -> Any:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": self.params["client_id"],
            "code_verifier": self.verifier,
            **overrides,
        }
        return self.client.post(TOKEN, data={k: v for k, v in form.items() if v != "DROP"})


def redirect_query(answer: Any, to: str = CALLBACK) -> dict[str, list[str]]:
    assert answer.status_code in (302, 303), answer.text
    location = answer.headers["location"]
    assert location.split("?")[0] == to
    return parse_qs(urlsplit(location).query)


def claims_of(dev: DevIssuer, token: str) -> dict[str, Any]:
    return jwt.decode(token, KeySet.import_key_set(dev.public_jwks()), algorithms=["ES384"]).claims


# --- discovery ---------------------------------------------------------------------------


def test_discovery_and_capability_statement_advertise_the_launch(client: TestClient) -> None:
    config = client.get("/fhir/.well-known/smart-configuration").json()
    assert config["authorization_endpoint"] == "http://testserver/auth/authorize"
    assert config["token_endpoint"] == TOKEN_URL
    assert config["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "refresh_token",
    ]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["response_types_supported"] == ["code"]
    for capability in (
        "launch-standalone",
        "context-standalone-patient",
        "client-public",
        "client-confidential-asymmetric",
        "sso-openid-connect",
        "permission-offline",
        "permission-online",
        "permission-patient",
        "permission-v2",
        "authorize-post",
    ):
        assert capability in config["capabilities"]
    assert "launch-ehr" not in config["capabilities"]
    for scope in ("launch/patient", "openid", "fhirUser", "offline_access", "online_access"):
        assert scope in config["scopes_supported"]
    security = client.get("/fhir/metadata").json()["rest"][0]["security"]
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris == {"token": TOKEN_URL, "authorize": "http://testserver/auth/authorize"}


# --- a citizen for themself ----------------------------------------------------------------


def test_citizen_launch_end_to_end(client: TestClient, dev: DevIssuer) -> None:
    launch = Launch(client)
    page = launch.start()
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "Log ind som Einer Lauridsen" in page.text
    answer = launch.sign_in("einer")  # no children: no picker
    body = launch.exchange(launch.code(answer)).json()

    assert body["token_type"] == "Bearer"
    assert body["patient"] == "einer"
    assert body["scope"] == "patient/*.rs launch/patient openid fhirUser offline_access"
    assert body["refresh_token"]
    access = claims_of(dev, body["access_token"])
    assert access["dk_user_type"] == "citizen"
    assert access["dk_acting_cpr"] == access["dk_citizen_cpr"] == EINER
    assert access["dk_relation"] == "self"
    assert access["client_id"] == "web-app"
    assert EINER not in access["sub"]
    id_token = claims_of(dev, body["id_token"])
    assert id_token["aud"] == "web-app"
    assert id_token["iss"] == "http://testserver/auth"
    assert id_token["fhirUser"] == f"{BASE}/Patient/einer"
    assert id_token["nonce"] == "n-0S6"
    assert id_token["sub"] == access["sub"]

    headers = bearer(body["access_token"])
    assert client.get("/fhir/Patient/einer", headers=headers).status_code == 200
    plans = client.get("/fhir/CarePlan", headers=headers).json()
    assert {e["resource"]["id"] for e in plans.get("entry", [])} == {"einer-rehab", "einer-other"}


def test_authorize_by_post(client: TestClient) -> None:
    """SMART `authorize-post`: the authorization request as a form."""
    launch = Launch(client)
    page = client.post(AUTHORIZE, data=launch.params)
    assert page.status_code == 200
    assert button_values(page.text, "persona") == ["kirsten", "anders", "einer"]


# --- a parent picking a child --------------------------------------------------------------


def test_parent_picks_a_child_in_custody(client: TestClient, dev: DevIssuer) -> None:
    launch = Launch(client)
    picker = launch.sign_in("kirsten")
    assert picker.status_code == 200
    # Lars (11) and the child who turns 15 tomorrow; not Gitte (16), not the child who is
    # 15 today (sundhedsloven §39a), and no "self" (Kirsten has no record here).
    assert sorted(button_values(picker.text, "subject")) == ["lars", "nearly15"]
    assert "Test Lars" in picker.text or "Lars Test" in picker.text

    answer = launch.choose("kirsten", "lars")
    body = launch.exchange(launch.code(answer)).json()
    assert body["patient"] == "lars"
    access = claims_of(dev, body["access_token"])
    assert (access["dk_acting_cpr"], access["dk_relation"]) == (KIRSTEN_BERGGREN, "custody")
    assert access["dk_citizen_cpr"] != KIRSTEN_BERGGREN
    assert claims_of(dev, body["id_token"])["fhirUser"] == f"{BASE}/RelatedPerson/kirsten-lars"

    headers = bearer(body["access_token"])
    plans = client.get("/fhir/CarePlan", headers=headers).json()
    assert {e["resource"]["id"] for e in plans["entry"]} == {"lars-plan"}  # not lars-hidden
    assert client.get("/fhir/RelatedPerson/kirsten-lars", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "subject",
    ["just15", "gitte", "einer", "no-such-patient"],
    ids=["15 today", "16", "not her child", "unknown"],
)
def test_a_child_not_offered_cannot_be_chosen(client: TestClient, subject: str) -> None:
    """The choice is checked against the list computed again, not taken from the form."""
    answer = Launch(client).choose("kirsten", subject)
    assert answer.status_code == 200  # the picker again, no code
    assert "location" not in answer.headers
    assert sorted(button_values(answer.text, "subject")) == ["lars", "nearly15"]


def test_a_father_without_custody_is_offered_no_child(client: TestClient) -> None:
    launch = Launch(client)
    picker = launch.sign_in("anders")
    assert picker.status_code == 200
    assert button_values(picker.text, "subject") == []
    assert "ingen journal" in picker.text
    assert "location" not in launch.choose("anders", "lars").headers


def test_a_custody_record_not_written_by_the_custody_authority_offers_no_child(
    client: TestClient, settings: Settings
) -> None:
    # An operator-loaded PARAUTH for Anders over Lars: not the CPR registry's, so it is not
    # custody (sundhedsloven §39a; docs/authorization.md) and the picker offers nobody.
    forged = {
        "resourceType": "RelatedPerson",
        "id": "anders-parauth",
        "patient": {"reference": "Patient/lars"},
        "identifier": [{"system": "urn:oid:1.2.208.176.1.2", "value": ANDERS_JENSEN}],
        "relationship": [{"coding": [{"system": RELATIONSHIP, "code": "PARAUTH"}]}],
    }
    load_writes(settings, Writes(LOADER, [forged]))
    launch = Launch(client)
    assert button_values(launch.sign_in("anders").text, "subject") == []
    assert "location" not in launch.choose("anders", "lars").headers


def test_cancel_answers_access_denied(client: TestClient) -> None:
    launch = Launch(client)
    page = launch.start()
    answer = client.post(
        AUTHORIZE, data={"esp_request": hidden_field(page.text, "esp_request"), "cancel": "1"}
    )
    query = redirect_query(answer)
    assert query["error"] == ["access_denied"]
    assert query["state"] == [launch.params["state"]]


# --- the code: PKCE, single use, redirect URI ---------------------------------------------


def test_a_tampered_code_verifier_fails(client: TestClient) -> None:
    launch = Launch(client)
    code = launch.code(launch.sign_in("einer"))
    other_verifier, _ = pkce()
    answer = launch.exchange(code, code_verifier=other_verifier)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    # The code is used up by the failed attempt.
    assert launch.exchange(code).json()["error"] == "invalid_grant"


def test_a_missing_code_verifier_fails(client: TestClient) -> None:
    launch = Launch(client)
    answer = launch.exchange(launch.code(launch.sign_in("einer")), code_verifier="DROP")
    assert answer.json()["error"] == "invalid_grant"


def test_a_reused_code_fails_and_revokes_its_refresh_token(client: TestClient) -> None:
    launch = Launch(client)
    code = launch.code(launch.sign_in("einer"))
    first = launch.exchange(code)
    assert first.status_code == 200
    again = launch.exchange(code)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    refresh = client.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": first.json()["refresh_token"],
            "client_id": "web-app",
        },
    )
    assert refresh.json()["error"] == "invalid_grant"  # RFC 6749 §4.1.2: revoked


@pytest.mark.parametrize("redirect_uri", [OTHER_CALLBACK, "DROP", CALLBACK + "/"])
def test_a_wrong_redirect_uri_at_the_token_endpoint_fails(
    client: TestClient, redirect_uri: str
) -> None:
    launch = Launch(client)
    answer = launch.exchange(launch.code(launch.sign_in("einer")), redirect_uri=redirect_uri)
    assert answer.json()["error"] == "invalid_grant"


def test_a_code_of_another_client_fails(client: TestClient) -> None:
    launch = Launch(client)
    code = launch.code(launch.sign_in("einer"))
    assert launch.exchange(code, client_id="code-only").json()["error"] == "invalid_grant"


def test_an_unknown_code_fails(client: TestClient) -> None:
    assert Launch(client).exchange("not-a-code").json()["error"] == "invalid_grant"


# --- authorization request errors (RFC 6749 §4.1.2.1) --------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "nobody"},
        {"client_id": "backend"},  # a backend client has no redirect URI
        {"client_id": "DROP"},
        {"redirect_uri": "http://127.0.0.1:9999/evil"},
        {"redirect_uri": CALLBACK + "?x=1"},  # exact match only
        {"redirect_uri": "DROP"},  # two are registered: which one?
    ],
    ids=["unknown", "backend", "no client", "unregistered", "not exact", "ambiguous"],
)
def test_errors_before_the_redirect_uri_is_trusted_are_shown(
    client: TestClient, params: dict[str, str]
) -> None:
    answer = Launch(client, **params).start()
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "invalid_request" in answer.text
    json_answer = client.get(
        f"{AUTHORIZE}?{urlencode(Launch(client, **params).params)}",
        headers={"Accept": "application/json"},
    )
    assert json_answer.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": "DROP"}, "invalid_request"),  # RFC 7636: absent is plain
        ({"code_challenge": "DROP"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "DROP"}, "invalid_request"),
        ({"aud": "https://other.example/fhir"}, "invalid_request"),
        ({"aud": "DROP"}, "invalid_request"),
        ({"scope": "system/*.rs patient/*.cruds"}, "invalid_scope"),
        ({"scope": "openid fhirUser"}, "invalid_scope"),
        ({"launch": "abc"}, "invalid_request"),
    ],
)
def test_errors_after_it_is_trusted_go_back_to_the_app_with_state(
    client: TestClient, params: dict[str, str], error: str
) -> None:
    launch = Launch(client, **params)
    query = redirect_query(launch.start())
    assert query["error"] == [error]
    assert query["error_description"]
    assert query["state"] == [launch.params["state"]]
    assert "code" not in query


def test_unregistered_scopes_are_dropped_from_the_grant(client: TestClient) -> None:
    launch = Launch(client, scope="launch/patient patient/*.cruds patient/CarePlan.rs user/*.rs")
    body = launch.exchange(launch.code(launch.sign_in("einer"))).json()
    assert body["scope"] == "patient/CarePlan.rs launch/patient"
    assert "refresh_token" not in body and "id_token" not in body


def test_no_patient_context_without_launch_patient(client: TestClient) -> None:
    launch = Launch(client, scope="patient/*.rs")
    body = launch.exchange(launch.code(launch.sign_in("einer"))).json()
    assert "patient" not in body


# --- confidential asymmetric apps --------------------------------------------------------


def test_a_confidential_app_authenticates_with_a_client_assertion(client: TestClient) -> None:
    launch = Launch(client, client_id="confidential-app")
    code = launch.code(launch.sign_in("einer"))
    unauthenticated = launch.exchange(code)
    assert (unauthenticated.status_code, unauthenticated.json()["error"]) == (401, "invalid_client")

    code = launch.code(launch.sign_in("einer"))
    answer = launch.exchange(
        code,
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=CONFIDENTIAL.assertion(TOKEN_URL),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["patient"] == "einer"


def test_a_backend_client_cannot_redeem_codes(client: TestClient) -> None:
    launch = Launch(client)
    backend = BackendClient("backend")
    answer = launch.exchange(
        launch.code(launch.sign_in("einer")),
        client_id="DROP",
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=backend.assertion(TOKEN_URL),
    )
    assert answer.json()["error"] == "unauthorized_client"


# --- refresh tokens --------------------------------------------------------------------


def refresh(client: TestClient, token: str, client_id: str = "web-app", **extra: str) -> Any:
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
    return client.post(TOKEN, data={**form, **extra})


def test_refresh_rotates_and_a_used_refresh_token_is_refused(
    client: TestClient, dev: DevIssuer
) -> None:
    launch = Launch(client)
    first = launch.exchange(launch.code(launch.choose("kirsten", "lars"))).json()

    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["patient"] == "lars"
    assert body["scope"] == first["scope"]
    assert "id_token" not in body
    access = claims_of(dev, body["access_token"])
    assert (access["dk_relation"], access["dk_acting_cpr"]) == ("custody", KIRSTEN_BERGGREN)

    replay = refresh(client, first["refresh_token"])
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    # The replay revoked the family: the newest refresh token is refused too (RFC 9700).
    assert refresh(client, body["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_public_client_may_refresh_without_naming_itself(client: TestClient) -> None:
    """RFC 6749 §6 asks only confidential clients to authenticate (fhirclient.js's default)."""
    launch = Launch(client)
    first = launch.exchange(launch.code(launch.sign_in("einer"))).json()
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    answer = client.post(TOKEN, data=form)
    assert answer.status_code == 200, answer.text
    assert answer.json()["patient"] == "einer"


def test_a_confidential_client_must_authenticate_to_refresh(client: TestClient) -> None:
    launch = Launch(client, client_id="confidential-app")
    first = launch.exchange(
        launch.code(launch.sign_in("einer")),
        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        client_assertion=CONFIDENTIAL.assertion(TOKEN_URL),
    ).json()
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    answer = client.post(TOKEN, data=form)
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")
    with_id = client.post(TOKEN, data={**form, "client_id": "confidential-app"})
    assert with_id.json()["error"] == "invalid_client"


def test_refresh_is_bound_to_the_client(client: TestClient) -> None:
    launch = Launch(client)
    first = launch.exchange(launch.code(launch.sign_in("einer"))).json()
    assert refresh(client, first["refresh_token"], "other-app").json()["error"] == "invalid_grant"
    assert refresh(client, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_may_narrow_but_not_widen_the_scopes(client: TestClient, dev: DevIssuer) -> None:
    launch = Launch(client)
    first = launch.exchange(launch.code(launch.sign_in("einer"))).json()
    wider = refresh(client, first["refresh_token"], scope="patient/*.cruds")
    assert wider.json()["error"] == "invalid_scope"

    launch = Launch(client)
    first = launch.exchange(launch.code(launch.sign_in("einer"))).json()
    narrow = refresh(client, first["refresh_token"], scope="patient/CarePlan.rs").json()
    assert narrow["scope"] == "patient/CarePlan.rs"
    assert claims_of(dev, narrow["access_token"])["scope"] == "patient/CarePlan.rs"
    # The rotated refresh token keeps the original grant (RFC 6749 §6).
    again = refresh(client, narrow["refresh_token"]).json()
    assert again["scope"] == first["scope"]


def test_online_access_also_gives_a_refresh_token(client: TestClient) -> None:
    launch = Launch(client, scope="launch/patient online_access patient/*.rs")
    body = launch.exchange(launch.code(launch.sign_in("einer"))).json()
    assert refresh(client, body["refresh_token"]).status_code == 200


def test_no_refresh_token_for_a_client_without_the_grant(client: TestClient) -> None:
    launch = Launch(client, client_id="code-only")
    body = launch.exchange(launch.code(launch.sign_in("einer"))).json()
    assert "refresh_token" not in body
    assert body["access_token"]


def test_refresh_ends_when_custody_is_no_longer_verified(
    client: TestClient, tokens: TokenFactory
) -> None:
    launch = Launch(client)
    first = launch.exchange(launch.code(launch.choose("kirsten", "lars"))).json()
    registry = bearer(tokens.system(sor=REGISTRY_SOR, scopes="system/*.cruds"))
    deleted = client.delete("/fhir/RelatedPerson/kirsten-lars", headers=registry)
    assert deleted.status_code in (200, 204), deleted.text
    answer = refresh(client, first["refresh_token"])
    assert answer.json()["error"] == "invalid_grant"


def test_the_authorize_endpoint_is_404_without_a_database() -> None:
    issuer = DevIssuer(BASE, signing_key("ES384", "dev-issuer"), ClientRegistry())
    auth = AuthService(TokenValidator({}, BASE), dev_issuer=issuer)
    with TestClient(make_app(auth)) as test_client:
        assert test_client.get(AUTHORIZE).status_code == 404
    config = auth.smart_configuration()
    assert config is not None and "authorization_endpoint" not in config

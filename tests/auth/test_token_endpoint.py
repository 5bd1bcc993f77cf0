"""POST /auth/token: SMART Backend Services client_credentials with private_key_jwt."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from app.auth.clients import ClientRegistry
from app.auth.dev_issuer import DevIssuer
from app.auth.service import AuthService
from app.auth.tokens import TokenValidator
from tests.auth.app import TOKEN_URL, http
from tests.support.tokens import (
    DROP,
    MUNICIPALITY_SOR,
    BackendClient,
    bearer,
    clients_document,
    signing_key,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


async def post_token(service: AuthService, form: dict[str, str]) -> httpx.Response:
    async with http(service) as client:
        return await client.post("/auth/token", data=form)


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


async def test_client_credentials_issue_an_access_token(
    dev_service: AuthService, backend: BackendClient
) -> None:
    response = await post_token(dev_service, backend.token_form(TOKEN_URL))
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "system/CarePlan.cruds system/Patient.rs"

    claims = jwt.decode(
        body["access_token"],
        dev_service.dev_issuer.jwks_source()._keys,  # type: ignore[union-attr]
        algorithms=["ES384"],
    ).claims
    assert claims["iss"] == "http://testserver/auth"
    assert claims["aud"] == "http://testserver/fhir"
    assert claims["sub"] == claims["client_id"] == backend.client_id
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]
    assert claims["dk_user_type"] == "system"
    assert claims["dk_org_sor"] == MUNICIPALITY_SOR
    assert claims["dk_org_kommunekode"] == "0615"

    principal = await dev_service.authenticate(f"Bearer {body['access_token']}")
    assert principal.org_sor == MUNICIPALITY_SOR
    assert principal.scopes.allows("CarePlan", "delete")
    assert not principal.scopes.allows("Condition", "read")


async def test_rsa_client(dev_service: AuthService) -> None:
    rsa = BackendClient("rsa", "RS384")
    response = await post_token(dev_service, rsa.token_form(TOKEN_URL, "system/*.rs"))
    assert response.status_code == 200, response.text


async def test_the_token_works_against_the_api(
    dev_service: AuthService, backend: BackendClient
) -> None:
    async with http(dev_service) as client:
        token = (await client.post("/auth/token", data=backend.token_form(TOKEN_URL))).json()
        response = await client.get("/fhir/whoami", headers=bearer(token["access_token"]))
    assert response.json()["org_sor"] == MUNICIPALITY_SOR


async def test_organisation_comes_from_the_registration_not_the_request(
    dev_service: AuthService, backend: BackendClient
) -> None:
    smuggled = {
        "dk_org_sor": "999999999",
        "dk_org_region": "DK-84",
        "dk_org_ydernummer": "999999",
        "dk_user_type": "professional",
        "dk_acting_cpr": "3001749995",
    }
    form = {**backend.token_form(TOKEN_URL, **smuggled), **smuggled}  # in assertion and form
    response = await post_token(dev_service, form)
    assert response.status_code == 200, response.text
    principal = await dev_service.authenticate(f"Bearer {response.json()['access_token']}")
    assert (principal.org_sor, principal.org_kommunekode) == (MUNICIPALITY_SOR, "0615")
    assert (principal.org_region, principal.org_ydernummer) == (None, None)
    assert (principal.user_type, principal.acting_cpr) == ("system", None)


async def test_narrower_scope_than_registered_is_granted(
    dev_service: AuthService, backend: BackendClient
) -> None:
    response = await post_token(dev_service, backend.token_form(TOKEN_URL, "system/CarePlan.rs"))
    assert response.json()["scope"] == "system/CarePlan.rs"


async def test_replayed_assertion_is_invalid_grant(
    dev_service: AuthService, backend: BackendClient
) -> None:
    form = backend.token_form(TOKEN_URL)
    assert (await post_token(dev_service, form)).status_code == 200
    assert_oauth_error(await post_token(dev_service, form), 400, "invalid_grant")


async def test_same_jti_from_different_clients_is_not_a_replay(dev_service: AuthService) -> None:
    a, b = (
        BackendClient("horsens-omsorg", scope="system/CarePlan.cruds"),
        BackendClient("rsa", "RS384"),
    )
    assert (
        await post_token(dev_service, a.token_form(TOKEN_URL, "system/CarePlan.rs", jti="1"))
    ).status_code == 200
    assert (
        await post_token(dev_service, b.token_form(TOKEN_URL, "system/*.rs", jti="1"))
    ).status_code == 200


INVALID_CLIENT: list[tuple[str, dict[str, Any]]] = [
    ("wrong aud", {"aud": "http://testserver/fhir"}),
    ("aud of another server", {"aud": "https://other.example/auth/token"}),
    ("exp an hour ahead", {"lifetime": 3600}),
    ("exp 6 minutes ahead", {"lifetime": 360 + 61}),
    ("expired", {"now": lambda: time.time() - 3600}),
    ("no exp", {"exp": DROP}),
    ("no jti", {"jti": DROP}),
    ("empty jti", {"jti": ""}),
    ("iss is not sub", {"sub": "someone-else"}),
    ("iss unknown", {"iss": "unknown", "sub": "unknown"}),
    # Times are taken when the test runs, not when the module is collected.
    ("nbf in the future", {"nbf": lambda: int(time.time()) + 600}),
]


@pytest.mark.parametrize(("case", "claims"), INVALID_CLIENT, ids=[c[0] for c in INVALID_CLIENT])
async def test_bad_assertions_are_invalid_client(
    dev_service: AuthService, backend: BackendClient, case: str, claims: dict[str, Any]
) -> None:
    now = {k: v() if callable(v) else v for k, v in claims.items()}
    response = await post_token(dev_service, backend.token_form(TOKEN_URL, **now))
    assert_oauth_error(response, 401, "invalid_client")


async def test_unknown_client_is_invalid_client(dev_service: AuthService) -> None:
    stranger = BackendClient("stranger")
    assert_oauth_error(
        await post_token(dev_service, stranger.token_form(TOKEN_URL)), 401, "invalid_client"
    )


async def test_bad_signature_is_invalid_client(
    dev_service: AuthService, backend: BackendClient
) -> None:
    impostor = signing_key("ES384", "impostor")
    form = backend.token_form(TOKEN_URL)
    form["client_assertion"] = backend.assertion(
        TOKEN_URL, key=impostor, header={"kid": backend.key.kid}
    )
    assert_oauth_error(await post_token(dev_service, form), 401, "invalid_client")


async def test_tampered_assertion_is_invalid_client(
    dev_service: AuthService, backend: BackendClient
) -> None:
    form = backend.token_form(TOKEN_URL)
    header, payload, signature = form["client_assertion"].split(".")
    padded = payload + "=" * (-len(payload) % 4)
    changed = base64.urlsafe_b64decode(padded).replace(b"horsens-omsorg", b"rsa")
    form["client_assertion"] = ".".join(
        [header, base64.urlsafe_b64encode(changed).rstrip(b"=").decode(), signature]
    )
    assert_oauth_error(await post_token(dev_service, form), 401, "invalid_client")


async def test_assertion_algorithm_must_be_rs384_or_es384() -> None:
    """A registered P-256 key signing ES256 is still refused: SMART asks for RS384/ES384."""
    key = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True)
    client = BackendClient("p256", alg="ES256", key=key)  # type: ignore[arg-type]
    issuer = DevIssuer(
        "http://testserver/fhir",
        signing_key("ES384", "dev-issuer"),
        ClientRegistry.from_document(clients_document(client)),
    )
    response = await post_token(
        AuthService(TokenValidator({}, "x"), dev_issuer=issuer), client.token_form(TOKEN_URL)
    )
    assert_oauth_error(response, 401, "invalid_client")
    assert "RS384, ES384" in response.json()["error_description"]


async def test_client_id_parameter_must_match(
    dev_service: AuthService, backend: BackendClient
) -> None:
    form = {**backend.token_form(TOKEN_URL), "client_id": "rsa"}
    assert_oauth_error(await post_token(dev_service, form), 401, "invalid_client")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (
            {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
            "invalid_client",
        ),
        ({"client_assertion_type": DROP}, "invalid_client"),
        ({"client_assertion": DROP}, "invalid_client"),
        ({"client_assertion": "not.a.jwt"}, "invalid_client"),
        ({"grant_type": DROP}, "invalid_request"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
    ],
)
async def test_malformed_requests(
    dev_service: AuthService, backend: BackendClient, changes: dict[str, Any], error: str
) -> None:
    form = {**backend.token_form(TOKEN_URL), **changes}
    form = {k: v for k, v in form.items() if v is not DROP}
    response = await post_token(dev_service, form)
    assert_oauth_error(response, 401 if error == "invalid_client" else 400, error)


@pytest.mark.parametrize(
    "scope",
    [
        "system/*.cruds",  # wider than registered
        "system/Condition.rs",  # another type
        "user/CarePlan.rs",  # another context
        "system/CarePlan.sr",  # invalid syntax
        "launch/patient openid profile",  # nothing a backend client can have
    ],
)
async def test_scope_nothing_can_be_granted_is_invalid_scope(
    dev_service: AuthService, backend: BackendClient, scope: str
) -> None:
    response = await post_token(dev_service, backend.token_form(TOKEN_URL, scope))
    assert_oauth_error(response, 400, "invalid_scope")


@pytest.mark.parametrize("scope", [None, "", "   "])
async def test_omitted_scope_grants_the_registered_scopes(
    dev_service: AuthService, backend: BackendClient, scope: str | None
) -> None:
    """RFC 6749 §3.3: without a scope the server uses its pre-defined default."""
    form = backend.token_form(TOKEN_URL)
    del form["scope"]
    if scope is not None:
        form["scope"] = scope
    response = await post_token(dev_service, form)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "system/CarePlan.cruds system/Patient.rs"
    principal = await dev_service.authenticate(f"Bearer {response.json()['access_token']}")
    assert principal.scopes.allows("CarePlan", "delete")


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        # The Python fhirclient adds launch/patient to whatever it asks for.
        ("launch/patient system/CarePlan.rs", "system/CarePlan.rs"),
        ("system/CarePlan.rs system/Observation.rs", "system/CarePlan.rs"),
        ("system/*.cruds system/Patient.rs", "system/Patient.rs"),
        ("system/CarePlan.sr system/Patient.r openid", "system/Patient.r"),
    ],
)
async def test_scopes_the_client_may_not_have_are_dropped_from_the_grant(
    dev_service: AuthService, backend: BackendClient, requested: str, granted: str
) -> None:
    """RFC 6749 §3.3: the server may grant less than requested, and says what it granted."""
    response = await post_token(dev_service, backend.token_form(TOKEN_URL, requested))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == granted
    principal = await dev_service.authenticate(f"Bearer {response.json()['access_token']}")
    assert str(principal.scopes) == granted
    assert not principal.scopes.allows("Observation", "read")


async def test_repeated_parameter_is_invalid_request(
    dev_service: AuthService, backend: BackendClient
) -> None:
    form = backend.token_form(TOKEN_URL)
    body = "&".join(f"{k}={v}" for k, v in form.items()) + "&scope=system/Patient.rs"
    async with http(dev_service) as client:
        response = await client.post(
            "/auth/token",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert_oauth_error(response, 400, "invalid_request")


async def test_json_body_is_invalid_request(
    dev_service: AuthService, backend: BackendClient
) -> None:
    async with http(dev_service) as client:
        response = await client.post("/auth/token", json=backend.token_form(TOKEN_URL))
    assert_oauth_error(response, 400, "invalid_request")


async def test_token_endpoint_is_404_without_the_dev_issuer(
    tf: Any, backend: BackendClient
) -> None:
    response = await post_token(tf.auth_service(), backend.token_form(TOKEN_URL))
    assert response.status_code == 404

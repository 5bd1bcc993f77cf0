"""The `authenticate` dependency over HTTP: RFC 6750 challenges, OperationOutcome bodies."""

from __future__ import annotations

import httpx
import pytest

from app.auth.bearer import bearer_token
from app.auth.jwks import HttpJwks
from app.auth.service import AuthService
from app.auth.tokens import TokenValidator
from app.fhir.outcome import FhirError
from tests.auth.app import BASE_URL, http
from tests.support.tokens import (
    KIRSTEN_BERGGREN,
    LARS_BERGGREN,
    NIELS_VENDELBOE,
    TokenFactory,
    bearer,
)


async def test_valid_token_reaches_the_route(tf: TokenFactory) -> None:
    async with http(tf.auth_service()) as client:
        response = await client.get("/fhir/whoami", headers=bearer(tf.professional()))
    assert response.status_code == 200
    body = response.json()
    assert (body["user_type"], body["acting_cpr"]) == ("professional", NIELS_VENDELBOE)


async def test_custody_parent_token(tf: TokenFactory) -> None:
    async with http(tf.auth_service()) as client:
        response = await client.get("/fhir/whoami", headers=bearer(tf.custody_parent()))
    body = response.json()
    assert (body["acting_cpr"], body["citizen_cpr"], body["relation"]) == (
        KIRSTEN_BERGGREN,
        LARS_BERGGREN,
        "custody",
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["none", "empty", "basic"],
)
async def test_missing_token_gets_a_challenge_without_error(
    tf: TokenFactory, headers: dict[str, str]
) -> None:
    async with http(tf.auth_service()) as client:
        response = await client.get("/fhir/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="esp-careplans"'
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "login"


@pytest.mark.parametrize(
    "authorization", ["Bearer", "Bearer ", "Bearer a b", "Bearer not-a-jwt", "bearer x.y.z"]
)
async def test_bad_token_gets_invalid_token(tf: TokenFactory, authorization: str) -> None:
    async with http(tf.auth_service()) as client:
        response = await client.get("/fhir/whoami", headers={"Authorization": authorization})
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="esp-careplans", error="invalid_token"')
    assert response.json()["issue"][0]["code"] == "login"


async def test_scheme_is_case_insensitive(tf: TokenFactory) -> None:
    async with http(tf.auth_service()) as client:
        response = await client.get(
            "/fhir/whoami", headers={"Authorization": f"bEaReR {tf.system()}"}
        )
    assert response.status_code == 200


async def test_error_description_cannot_break_the_header(tf: TokenFactory) -> None:
    token = tf.system(dk_user_type='x", error="none')
    async with http(tf.auth_service()) as client:
        response = await client.get("/fhir/whoami", headers=bearer(token))
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.count('"') == 6  # realm, error, error_description: nothing injected


async def test_expired_token_over_http(tf: TokenFactory) -> None:
    token = tf.system(exp=1_000_000_000)
    async with http(tf.auth_service()) as client:
        response = await client.get("/fhir/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert "expired" in response.headers["WWW-Authenticate"]


async def test_unreachable_jwks_is_503(tf: TokenFactory) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    source = HttpJwks(
        "https://idp.test.example/jwks.json", httpx.AsyncClient(transport=httpx.MockTransport(down))
    )
    service = AuthService(TokenValidator({tf.issuer: source}, BASE_URL))
    async with http(service) as client:
        response = await client.get("/fhir/whoami", headers=bearer(tf.system()))
    assert response.status_code == 503
    assert response.json()["issue"][0]["code"] == "transient"
    assert "Retry-After" in response.headers


async def test_dev_issuer_tokens_are_trusted_in_process(dev_service: AuthService) -> None:
    async with http(dev_service) as client:
        minted = await client.post(
            "/auth/dev-token",
            json={"dk_user_type": "system", "dk_org_sor": "123456789", "scope": "system/*.rs"},
        )
        token = minted.json()["access_token"]
        response = await client.get("/fhir/whoami", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["issuer"] == "http://testserver/auth"


@pytest.mark.parametrize("inside", [" ", "\t", "\x0b", "\x1c", "\u00a0", "\u2003", "\u3000"])
def test_whitespace_inside_the_credentials_is_malformed(inside: str) -> None:
    """Any Unicode whitespace (str.isspace) inside the token, not only ASCII blanks."""
    with pytest.raises(FhirError) as refused:
        bearer_token(f"Bearer abc{inside}def")
    assert refused.value.status == 401
    assert "malformed bearer credentials" in refused.value.issues[0].diagnostics
    assert bearer_token(f"Bearer  abc.def-_~+/= {inside}") == "abc.def-_~+/="

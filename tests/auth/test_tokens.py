"""Token attacks: each must end in 401 invalid_token (and unreachable keys in 503)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey, Key, KeyParameters, RSAKey
from joserfc.jws import JWSRegistry

from app.auth.jwks import HttpJwks, StaticJwks
from app.auth.tokens import TokenValidator
from app.fhir.outcome import FhirError
from tests.support.tokens import DROP, TokenFactory, public_jwks, signing_key

BASE_URL = "http://testserver/fhir"
NOW = 1_750_000_000


def fixed_factory(alg: Any = "ES384", **kwargs: Any) -> TokenFactory:
    return TokenFactory(BASE_URL, alg=alg, clock=lambda: NOW, **kwargs)


def validator(tf: TokenFactory, **kwargs: Any) -> TokenValidator:
    return tf.validator(clock=lambda: NOW, **kwargs)


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def rejected(v: TokenValidator, token: str) -> FhirError:
    with pytest.raises(FhirError) as caught:
        await v.authenticate(token)
    error = caught.value
    assert error.status == 401, error
    assert error.issues[0].code == "login"
    assert 'error="invalid_token"' in error.headers["WWW-Authenticate"]
    return error


async def test_a_valid_token_makes_a_principal() -> None:
    tf = fixed_factory()
    principal = await validator(tf).authenticate(tf.system())
    assert principal.user_type == "system"
    assert principal.issuer == tf.issuer


@pytest.mark.parametrize("alg", ["RS256", "RS384", "ES256", "ES384"])
async def test_accepted_algorithms(alg: str) -> None:
    params: KeyParameters = {"alg": alg, "use": "sig"}
    key: Key = (
        RSAKey.generate_key(2048, parameters=params, auto_kid=True)
        if alg.startswith("RS")
        else ECKey.generate_key(f"P-{alg[2:]}", parameters=params, auto_kid=True)
    )
    tf = fixed_factory(key=key)
    token = tf.sign(tf.system_claims(), alg=alg)
    assert (await validator(tf).authenticate(token)).user_type == "system"


def sign_raw(header: dict[str, Any], claims: dict[str, Any], key: Key) -> str:
    """Sign with any header, bypassing joserfc's own header checks (attacker's view)."""
    signing_input = f"{b64(header)}.{b64(claims)}"
    signature = JWSRegistry.algorithms[header["alg"]].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


async def test_alg_none_is_refused() -> None:
    tf = fixed_factory()
    header = {"alg": "none", "typ": "JWT", "kid": tf.key.kid}
    token = f"{b64(header)}.{b64(tf.system_claims())}."
    await rejected(validator(tf), token)


@pytest.mark.parametrize("secret_form", ["pem", "jwk-json"])
async def test_hs256_signed_with_the_public_key_is_refused(secret_form: str) -> None:
    """The classic key-confusion attack: HMAC with the issuer's public key as the secret."""
    rsa = signing_key("RS384", "confusion")
    assert isinstance(rsa, RSAKey)
    tf = fixed_factory("RS384", key=rsa)
    if secret_form == "pem":
        secret = rsa.as_pem(private=False)
    else:
        secret = json.dumps(tf.key.as_dict(private=False)).encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": tf.key.kid}
    signing_input = f"{b64(header)}.{b64(tf.system_claims())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    await rejected(validator(tf), f"{signing_input}.{b64(signature)}")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "RS512", "ES512", "PS256", "EdDSA", "None"])
async def test_algorithms_outside_the_allow_list_are_refused(alg: str) -> None:
    tf = fixed_factory()
    header = {"alg": alg, "typ": "JWT", "kid": tf.key.kid}
    token = f"{b64(header)}.{b64(tf.system_claims())}.{b64(b'x' * 64)}"
    error = await rejected(validator(tf), token)
    assert "algorithm" in str(error)


async def test_algorithm_and_key_type_mismatch_is_refused() -> None:
    tf = fixed_factory()  # EC key
    token = tf.sign(tf.system_claims())
    _, payload, signature = token.split(".")
    forged = {"alg": "RS384", "typ": "JWT", "kid": tf.key.kid}
    await rejected(validator(tf), f"{b64(forged)}.{payload}.{signature}")


async def test_tampered_payload_is_refused() -> None:
    tf = fixed_factory()
    header, _, signature = tf.system(scopes="system/*.rs").split(".")
    payload = b64(tf.system_claims(scopes="system/*.cruds"))
    await rejected(validator(tf), f"{header}.{payload}.{signature}")


async def test_wrong_audience_is_refused() -> None:
    tf = fixed_factory()
    await rejected(validator(tf), tf.system(aud="http://other.example/fhir"))
    await rejected(validator(tf), tf.system(aud=["http://other.example/fhir"]))
    await rejected(validator(tf), tf.system(aud=f"{BASE_URL}/"))
    await rejected(validator(tf), tf.system(aud=DROP))


async def test_audience_list_containing_us_is_accepted() -> None:
    tf = fixed_factory()
    principal = await validator(tf).authenticate(tf.system(aud=["urn:other", BASE_URL]))
    assert principal.org_sor


async def test_untrusted_issuer_is_refused() -> None:
    tf = fixed_factory()
    await rejected(validator(tf), tf.system(iss="https://evil.example/auth"))
    await rejected(validator(tf), tf.system(iss=DROP))


async def test_trusted_issuer_name_with_an_untrusted_key_is_refused() -> None:
    tf = fixed_factory()
    attacker = fixed_factory(key=signing_key("ES384", "attacker"))
    forged = attacker.sign(tf.system_claims(), header={"kid": tf.key.kid})  # claims our kid
    await rejected(validator(tf), forged)


@pytest.mark.parametrize("header_name", ["jwk", "jku"])
async def test_keys_named_in_the_token_header_are_ignored(header_name: str) -> None:
    tf = fixed_factory()
    attacker_key = signing_key("ES384", "attacker")
    value: Any = (
        attacker_key.as_dict(private=False)
        if header_name == "jwk"
        else "https://evil.example/jwks.json"
    )
    forged = tf.sign(tf.system_claims(), key=attacker_key, header={header_name: value})
    await rejected(validator(tf), forged)


@pytest.mark.parametrize(
    ("exp_offset", "accepted"),
    [(-61, False), (-60, False), (-59, True), (-30, True), (300, True)],
)
async def test_expiry_has_at_most_60_seconds_leeway(exp_offset: int, accepted: bool) -> None:
    tf = fixed_factory()
    token = tf.system(exp=NOW + exp_offset)
    if accepted:
        await validator(tf).authenticate(token)
    else:
        error = await rejected(validator(tf), token)
        assert "expired" in str(error)


async def test_missing_or_odd_exp_is_refused() -> None:
    tf = fixed_factory()
    await rejected(validator(tf), tf.system(exp=DROP))
    await rejected(validator(tf), tf.system(exp=str(NOW + 300)))
    await rejected(validator(tf), tf.system(exp=True))


@pytest.mark.parametrize(("nbf_offset", "accepted"), [(120, False), (61, False), (30, True)])
async def test_not_before_in_the_future(nbf_offset: int, accepted: bool) -> None:
    tf = fixed_factory()
    token = tf.system(nbf=NOW + nbf_offset)
    if accepted:
        await validator(tf).authenticate(token)
    else:
        await rejected(validator(tf), token)


async def test_issued_in_the_future_is_refused() -> None:
    tf = fixed_factory()
    await rejected(validator(tf), tf.system(iat=NOW + 120))


async def test_leeway_cannot_be_configured_above_60_seconds() -> None:
    tf = fixed_factory()
    with pytest.raises(ValueError):
        validator(tf, leeway=300)
    with pytest.raises(ValueError):
        validator(tf, algorithms=())  # joserfc would fall back to its default set
    with pytest.raises(ValueError):
        validator(tf, algorithms=("HS256",))


async def test_unknown_kid_refetches_once_then_refuses() -> None:
    tf = fixed_factory()
    stranger = signing_key("ES384", "stranger")
    token = tf.sign(tf.system_claims(), key=stranger)
    source = StaticJwks(tf.jwks())
    v = TokenValidator({tf.issuer: source}, BASE_URL, clock=lambda: NOW)
    await rejected(v, token)
    assert source.refreshes == 1


async def test_unknown_kid_after_rotation_is_found_by_the_refetch() -> None:
    tf = fixed_factory()
    new_key = signing_key("ES384", "rotated")
    source = StaticJwks(tf.jwks())
    v = TokenValidator({tf.issuer: source}, BASE_URL, clock=lambda: NOW)
    source.replace(public_jwks(tf.key, new_key))  # issuer rotated; our cache is stale...
    token = tf.sign(tf.system_claims(), key=new_key)
    assert (await v.authenticate(token)).user_type == "system"


async def test_known_kid_does_not_refetch() -> None:
    tf = fixed_factory()
    source = StaticJwks(tf.jwks())
    v = TokenValidator({tf.issuer: source}, BASE_URL, clock=lambda: NOW)
    await v.authenticate(tf.system())
    assert source.refreshes == 0


@pytest.mark.parametrize(
    "claims",
    [
        {"dk_org_sor": DROP},  # system without SOR
        {"dk_user_type": "professional"},  # professional without acting CPR
        {"dk_user_type": "citizen", "dk_org_sor": DROP},  # citizen without CPRs
        {"dk_user_type": "superuser"},
        {"sub": DROP},
    ],
)
async def test_claims_that_make_no_principal_are_refused(claims: dict[str, Any]) -> None:
    tf = fixed_factory()
    error = await rejected(validator(tf), tf.system(**claims))
    assert "error_description=" in error.headers["WWW-Authenticate"]


async def test_citizen_without_relation_is_refused() -> None:
    tf = fixed_factory()
    await rejected(validator(tf), tf.citizen(dk_relation=DROP))


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c", "a.b.c.d", "é.é.é", "x" * 20_000, "eyJhbGciOiJFUzM4NCJ9.e30."],
)
async def test_garbage_is_refused(token: str) -> None:
    await rejected(validator(fixed_factory()), token)


@pytest.mark.parametrize("typ", ["JWE", "dpop+jwt", "secevent+jwt", 5])
async def test_tokens_of_other_types_are_refused(typ: Any) -> None:
    tf = fixed_factory()
    header = {"alg": "ES384", "kid": tf.key.kid, "typ": typ}
    await rejected(validator(tf), sign_raw(header, tf.system_claims(), tf.key))


async def test_at_jwt_type_and_no_type_are_accepted() -> None:
    tf = fixed_factory()
    await validator(tf).authenticate(tf.sign(tf.system_claims(), header={"typ": "at+jwt"}))
    await validator(tf).authenticate(tf.sign(tf.system_claims(), header={"typ": DROP}))


async def test_critical_headers_are_refused() -> None:
    tf = fixed_factory()
    header = {"alg": "ES384", "kid": tf.key.kid, "crit": ["exp"], "exp": NOW + 300}
    await rejected(validator(tf), sign_raw(header, tf.system_claims(), tf.key))


async def test_unreachable_jwks_is_503_not_401_or_500() -> None:
    tf = fixed_factory()

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    source = HttpJwks(
        "https://idp.test.example/jwks.json", httpx.AsyncClient(transport=httpx.MockTransport(down))
    )
    v = TokenValidator({tf.issuer: source}, BASE_URL, clock=lambda: NOW)
    with pytest.raises(FhirError) as caught:
        await v.authenticate(tf.system())
    assert caught.value.status == 503
    assert caught.value.issues[0].code == "transient"

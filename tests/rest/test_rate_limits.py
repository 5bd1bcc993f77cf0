"""Rate limits on the token endpoint and on failed authentication, shared through the database.

Every test runs on SQLite and PostgreSQL: the counters live in the `rate_limit` table, so
two app instances on one database (two nodes) count the same hits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api.rate_limit import token_client
from app.auth.clients import ClientRegistry
from app.auth.dev_issuer import DevIssuer
from app.auth.service import AuthService
from app.auth.tokens import TokenValidator
from app.main import create_app
from app.settings import Settings
from tests.support.databases import truncate_all
from tests.support.tokens import BackendClient, TokenFactory, bearer, clients_document, signing_key

BASE = "http://testserver"
TOKEN_URL = f"{BASE}/auth/token"
CLIENT = BackendClient("horsens-omsorg", scope="system/CarePlan.cruds system/Patient.rs")
OTHER = BackendClient("odder-kommune", scope="system/Patient.rs")
# CLIENT's id with another key: its assertions all fail (invalid_client).
STRANGER = BackendClient("horsens-omsorg", key=signing_key("ES384", "not-horsens-omsorg"))

AppFactory = Callable[..., FastAPI]


@pytest.fixture
def make_app(settings: Settings, tokens: TokenFactory) -> AppFactory:
    """The app with the dev issuer (CLIENT and OTHER registered) and the given limits."""
    truncate_all(settings.database_url)
    issuer = DevIssuer(
        settings.base_url,
        signing_key("ES384", "dev-issuer"),
        ClientRegistry.from_document(clients_document(CLIENT, OTHER)),
    )

    def build(**limits: Any) -> FastAPI:
        sources = {**tokens.issuers(), issuer.issuer: issuer.jwks_source()}
        auth = AuthService(TokenValidator(sources, settings.base_url), dev_issuer=issuer)
        return create_app(settings.model_copy(update=limits), auth=auth)

    return build


def _client(app: FastAPI, address: str = "10.0.0.1") -> TestClient:
    return TestClient(app, base_url=BASE, client=(address, 40000))


def _token(client: TestClient, who: BackendClient = CLIENT) -> Any:
    return client.post("/auth/token", data=who.token_form(TOKEN_URL))


def test_a_burst_of_bad_client_assertions_gets_429_after_the_limit(make_app: AppFactory) -> None:
    with _client(make_app(token_rate_limit=30, auth_failure_limit=0)) as http:
        answers = [_token(http, STRANGER) for _ in range(100)]
        statuses = [a.status_code for a in answers]
        assert statuses[:30] == [401] * 30
        assert statuses[30:] == [429] * 70
        refused = answers[-1]
        assert refused.json()["error"] == "slow_down"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["cache-control"] == "no-store"
        # The client named by the assertions is held back too, however good its key.
        assert _token(http).status_code == 429


def test_failed_assertions_block_the_client_and_the_address(make_app: AppFactory) -> None:
    app = make_app(token_rate_limit=0, auth_failure_limit=5)
    with _client(app, "10.0.0.1") as first, _client(app, "10.0.0.2") as second:
        assert [_token(first, STRANGER).status_code for _ in range(5)] == [401] * 5
        blocked = _token(first, STRANGER)
        assert blocked.status_code == 429
        assert blocked.json()["error"] == "slow_down"
        assert _token(second, CLIENT).status_code == 429  # same client, other address
        assert _token(first, OTHER).status_code == 429  # same address, other client
    with _client(app, "10.0.0.3") as third:
        assert _token(third, OTHER).status_code == 200  # neither


def test_the_window_ends(make_app: AppFactory) -> None:
    app = make_app(token_rate_limit=0, auth_failure_limit=2, rate_limit_window_seconds=60)
    now = [1_000_000.0]
    app.state.rate_limiter.clock = lambda: now[0]
    with _client(app) as http:
        assert [_token(http, STRANGER).status_code for _ in range(2)] == [401, 401]
        blocked = _token(http, CLIENT)
        assert blocked.status_code == 429
        assert blocked.headers["retry-after"] == "60"
        now[0] += 59.5
        assert _token(http, CLIENT).headers["retry-after"] == "1"
        now[0] += 1
        assert _token(http, CLIENT).status_code == 200


def test_good_token_requests_are_limited_per_client_too(make_app: AppFactory) -> None:
    app = make_app(token_rate_limit=3, auth_failure_limit=0)
    with _client(app, "10.0.0.1") as http:
        assert [_token(http).status_code for _ in range(3)] == [200] * 3
        assert _token(http).status_code == 429
    with _client(app, "10.0.0.9") as elsewhere:
        assert _token(elsewhere).status_code == 429  # the client's own window
        assert _token(elsewhere, OTHER).status_code == 200


def test_failed_bearer_tokens_get_429_after_the_limit(
    make_app: AppFactory, tokens: TokenFactory
) -> None:
    app = make_app(token_rate_limit=0, auth_failure_limit=3)
    with _client(app) as http:
        bad = {"Authorization": "Bearer not-a-token"}
        assert [http.get("/fhir/Patient", headers=bad).status_code for _ in range(3)] == [401] * 3
        refused = http.get("/fhir/Patient", headers=bad)
        assert refused.status_code == 429
        outcome = refused.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "throttled"
        assert int(refused.headers["retry-after"]) >= 1
        assert http.get("/fhir/Patient").status_code == 429  # no token is a failure too
        # A valid token from the same address is never slowed down.
        good = bearer(tokens.system(scopes="system/*.cruds"))
        assert http.get("/fhir/Patient", headers=good).status_code == 200
    with _client(app, "10.0.0.2") as other:
        assert other.get("/fhir/Patient", headers=bad).status_code == 401


def test_two_nodes_share_the_counters(make_app: AppFactory) -> None:
    node_a = make_app(token_rate_limit=0, auth_failure_limit=4)
    node_b = make_app(token_rate_limit=0, auth_failure_limit=4)
    with _client(node_a) as a, _client(node_b) as b:
        assert _token(a, STRANGER).status_code == 401
        assert _token(b, STRANGER).status_code == 401
        assert _token(a, STRANGER).status_code == 401
        assert _token(b, STRANGER).status_code == 401
        assert _token(a, CLIENT).status_code == 429
        assert _token(b, CLIENT).status_code == 429


def test_limits_off_with_zero(make_app: AppFactory) -> None:
    app = make_app(token_rate_limit=0, auth_failure_limit=0)
    assert not hasattr(app.state, "rate_limiter")
    with _client(app) as http:
        assert {_token(http, STRANGER).status_code for _ in range(40)} == {401}


def test_the_client_of_a_token_request() -> None:
    assertion = CLIENT.assertion(TOKEN_URL)
    assert token_client(f"client_assertion={assertion}".encode()) == "horsens-omsorg"
    assert token_client(b"client_id=abc&client_assertion=x.y.z") == "abc"
    for garbage in (b"client_assertion=not-a-jwt", b"client_assertion=a.%%%.c", b""):
        assert token_client(garbage) is None

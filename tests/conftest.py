"""Fixtures: every database-backed test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support.databases import BACKENDS, database_for, truncate_all
from tests.support.tokens import HOSPITAL_SOR, TokenFactory, bearer

BASE_URL = "http://testserver/fhir"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from database_for(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # Failed-authentication limits off: schemathesis's ignored_auth alone sends hundreds
    # of bad tokens from one address. tests/rest/test_rate_limits.py sets its own limits.
    # No delivery worker in the test apps: tests/events/ runs it where it is the subject.
    return Settings(
        database_url=database_url,
        base_url=BASE_URL,
        auth_failure_limit=0,
        delivery_in_serve=False,
    )


@pytest.fixture(scope="session")
def tokens() -> TokenFactory:
    """Signs test access tokens; the test apps trust it."""
    return TokenFactory(BASE_URL)


@pytest.fixture
def app(settings: Settings, tokens: TokenFactory) -> FastAPI:
    """The app on an empty database, trusting the test token issuer."""
    truncate_all(settings.database_url)
    return create_app(settings, auth=tokens.auth_service())


@pytest.fixture
def client(app: FastAPI, tokens: TokenFactory) -> Iterator[TestClient]:
    """A hospital system client (system/*.cruds) on an empty database."""
    headers = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/*.cruds"))
    with TestClient(app, base_url="http://testserver", headers=headers) as test_client:
        yield test_client


@pytest.fixture
def fixtures_dir() -> Path:
    return Path(__file__).parent / "fixtures"

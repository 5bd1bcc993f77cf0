"""Fixtures: every database-backed test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support.databases import BACKENDS, database_for, truncate_all

BASE_URL = "http://testserver/fhir"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from database_for(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, base_url=BASE_URL, delta_settle_seconds=0.5)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client on an empty database."""
    truncate_all(settings.database_url)
    with TestClient(create_app(settings), base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def fixtures_dir() -> Path:
    return Path(__file__).parent / "fixtures"

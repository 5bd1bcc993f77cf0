"""The access world (tests/access/world.py) on an empty database, served by the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.access.world import FHIR_JSON, _team_plan, load_world
from tests.support.databases import truncate_all
from tests.support.tokens import HOSPITAL_SOR, TokenFactory, bearer


@pytest.fixture
def world(app: FastAPI, settings: Any) -> Iterator[TestClient]:
    load_world(settings)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def export_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Small pages, so every export walks several; files under the test's directory."""
    return settings.model_copy(update={"export_dir": tmp_path / "exports", "export_page_size": 2})


@pytest.fixture
def bulk(export_settings: Settings, tokens: TokenFactory) -> Iterator[TestClient]:
    """The access world, plus a plan of Gitte's shared with Horsens Kommune."""
    truncate_all(export_settings.database_url)
    app: FastAPI = create_app(export_settings, auth=tokens.auth_service())
    load_world(export_settings)
    with TestClient(app, base_url="http://testserver") as client:
        plan = _team_plan("gitte-rehab", "gitte", "hospital", "horsens-kommune")
        hospital = {**bearer(tokens.system(sor=HOSPITAL_SOR)), **FHIR_JSON}
        assert client.put("/fhir/CarePlan/gitte-rehab", json=plan, headers=hospital).is_success
        yield client

"""Portal fixtures: the app with its development issuer on an empty database, and the families."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.auth.service import build_auth_service
from app.main import create_app
from app.settings import DEMO_CPR_REGISTRY_SOR, Settings
from tests.portal import data
from tests.support.databases import truncate_all

BASE = "https://testserver"


@pytest.fixture
def portal_settings(database_url: str) -> Settings:
    # https, so the production cookie (__Host-, Secure) is what the tests exercise.
    return Settings(database_url=database_url, base_url=f"{BASE}/fhir")


@pytest.fixture
def portal_app(portal_settings: Settings, tmp_path: Path) -> FastAPI:
    truncate_all(portal_settings.database_url)
    auth = build_auth_service(portal_settings, dev_key_path=tmp_path / "dev-key.json")
    return create_app(portal_settings, auth=auth)


@pytest.fixture
def families(portal_app: FastAPI) -> dict[str, Any]:
    """The test families: people and custody by the CPR registry feed, plans by the hospital."""
    issuer = portal_app.state.auth.dev_token_issuer
    with TestClient(portal_app, base_url=BASE) as api:

        def sender(sor: str) -> data.Send:
            claims = {"dk_user_type": "system", "dk_org_sor": sor, "scope": "system/*.cruds"}
            token = issuer.dev_token(claims)["access_token"]

            def send(method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
                url = f"/fhir/{path}".rstrip("/")
                answer = api.request(
                    method, url, json=body, headers={"Authorization": f"Bearer {token}"}
                )
                assert answer.status_code < 300, answer.text
                return dict(answer.json())

            return send

        return data.create_families(sender(data.HOSPITAL_SOR), sender(DEMO_CPR_REGISTRY_SOR))


@pytest.fixture
def browser_client(portal_app: FastAPI, families: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(portal_app, base_url=BASE) as client:
        yield client


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client: TestClient, persona: str) -> None:
    page = client.get("/portal/login")
    answer = client.post(
        "/portal/login", data={"persona": persona, "csrf_token": csrf_token(page.text)}
    )
    assert answer.status_code == 200, answer.text
    assert answer.url.path == "/portal/planer"

"""Workflow fixtures: HTTP clients acting as demo organisations and citizens.

Each workflow runs end to end through the HTTP API with signed test tokens, on SQLite
and PostgreSQL (the `app` fixture empties the database first).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.tokens import TokenFactory, bearer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "fhir_profiles" / "examples"

ClientFor = Callable[[str], TestClient]


def example(name: str) -> dict[str, Any]:
    """A transaction Bundle of fhir_profiles/examples (a fresh copy)."""
    return dict(json.loads((EXAMPLES / name).read_text(encoding="utf-8")))


@pytest.fixture
def client_for(app: FastAPI) -> Iterator[ClientFor]:
    """`client_for(token)`: a TestClient sending that bearer token."""
    with ExitStack() as stack:

        def make(token: str, headers: Mapping[str, str] | None = None) -> TestClient:
            client = TestClient(
                app, base_url="http://testserver", headers={**bearer(token), **(headers or {})}
            )
            return stack.enter_context(client)

        yield make


def persona_token(tokens: TokenFactory, claims: Mapping[str, Any]) -> str:
    """Sign a demo persona's dev-token claims with the test issuer."""
    return tokens.sign(tokens.claims(**dict(claims)))


def total(client: TestClient, query: str) -> int:
    """The exact number of matches of a search (`_summary=count`)."""
    sep = "&" if "?" in query else "?"
    response = client.get(f"/fhir/{query}{sep}_summary=count")
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def entries(bundle: dict[str, Any], mode: str = "match") -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == mode
    ]


def statuses(response: dict[str, Any]) -> list[str]:
    return [e["response"]["status"] for e in response["entry"]]


def location_id(entry: dict[str, Any]) -> str:
    """`http://…/fhir/CarePlan/<id>/_history/1` → `<id>`."""
    return str(entry["response"]["location"]).split("/")[-3]

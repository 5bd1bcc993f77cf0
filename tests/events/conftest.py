"""The access world (tests/access/world.py) on an empty database, served by the app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.access.world import load_world


@pytest.fixture
def world(app: FastAPI, settings: Any) -> Iterator[TestClient]:
    load_world(settings)
    with TestClient(app, base_url="http://testserver") as client:
        yield client

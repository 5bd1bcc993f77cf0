"""Logs never carry SQL bind parameters or the data a database error message quotes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.logging_setup import JsonFormatter
from app.storage.engine import create_engine_async, create_engine_sync
from app.storage.repository import Repository

SECRET = "hemmelig-vaerdi-4711"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything logged during the test, formatted as the service formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_the_engines_hide_bind_parameters(database_url: str) -> None:
    assert create_engine_async(database_url).sync_engine.hide_parameters is True
    assert create_engine_sync(database_url).hide_parameters is True


# A duplicate primary key: PostgreSQL's DETAIL quotes the key's value.
DUPLICATE = (
    "INSERT INTO service_setting (key, value) VALUES (:key, :value), (:key, :value)",
    {"key": SECRET, "value": SECRET},
)
# PostgreSQL quotes the value it could not cast (SQLite casts anything).
CAST = ("SELECT CAST(:value AS integer)", {"value": SECRET})


def test_a_database_error_is_logged_without_its_data(
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    log_lines: io.StringIO,
    database_url: str,
) -> None:
    failures = [DUPLICATE] + ([CAST] if database_url.startswith("postgresql") else [])
    for sql, params in failures:

        async def failing_read(
            self: Repository,
            *_args: object,
            sql: str = sql,
            params: dict = params,
            **_kw: object,
        ) -> None:
            await self._conn.execute(text(sql), params)

        monkeypatch.setattr(Repository, "read", failing_read)
        local = TestClient(client.app, raise_server_exceptions=False, headers=client.headers)
        response = local.get("/fhir/Patient/x", headers={"X-Request-Id": "req-log-1"})
        assert response.status_code == 500
        assert SECRET not in response.text
        logged = log_lines.getvalue()
        log_lines.seek(0)
        log_lines.truncate()
        assert "unhandled error" in logged
        assert SECRET not in logged
        errors = [json.loads(line) for line in logged.splitlines() if '"error"' in line]
        assert errors, logged
        detail = errors[0]["error"]
        assert "IntegrityError" in detail or "DataError" in detail
        assert "[message withheld" in detail
        assert sql.split()[0] in detail  # the statement stays, for debugging
        assert errors[0]["request_id"] == "req-log-1"

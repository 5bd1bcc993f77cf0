"""No audit record is lost when the server is killed after it answered (#14 part 2).

A real `esp-careplans serve` answers a write and a read; the moment the client has the
response, every process of the server is SIGKILLed (no shutdown, no flush). The
AuditEvent of that request must already be in the database: a write's is committed with
the change, a read's in the access log's group commit before the read is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.storage.audit_log import every_event
from app.storage.engine import create_engine_async
from tests.support.databases import BACKENDS, database_for
from tests.support.servers import RunningServer, running_server
from tests.support.tokens import HOSPITAL_SOR

pytestmark = pytest.mark.slow

FHIR_JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_for(request.param, tmp_path)


def _processes(pid: int) -> list[int]:
    """`pid` and all its descendants (the serve command and its workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            found.extend(_processes(int(child)))
    return found


def _kill(server: RunningServer) -> None:
    """SIGKILL every process of the server at once: nothing gets to finish its work."""
    for pid in reversed(_processes(server.pid)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _events(database: str) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        engine = create_engine_async(database)
        try:
            async with engine.connect() as conn:
                return await every_event(conn)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _audited(database: str, interaction: str, reference: str) -> bool:
    return any(
        [s.get("code") for s in e.get("subtype", [])] == [interaction]  # type: ignore[attr-defined]
        and any(
            x.get("what", {}).get("reference") == reference
            for x in e.get("entity", [])  # type: ignore[attr-defined]
        )
        for e in _events(database)
    )


def test_a_write_and_a_read_answered_just_before_a_kill_are_audited(database: str) -> None:
    patient = {"resourceType": "Patient", "id": "killed", "name": [{"family": "Kill"}]}
    with running_server(database, workers=1) as server:
        headers = {**server.system_headers(sor=HOSPITAL_SOR), **FHIR_JSON}
        response = httpx.put(f"{server.base}/Patient/killed", json=patient, headers=headers)
        _kill(server)
        assert response.status_code == 201, response.text
    assert _audited(database, "update", "Patient/killed")

    with running_server(database, workers=1) as server:
        headers = {**server.system_headers(sor=HOSPITAL_SOR), **FHIR_JSON}
        response = httpx.get(f"{server.base}/Patient/killed", headers=headers)
        _kill(server)
        assert response.status_code == 200, response.text
    assert _audited(database, "read", "Patient/killed")

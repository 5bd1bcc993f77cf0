"""Two JavaScript FHIR client libraries, unmodified, against `esp-careplans serve` (#16).

fhir-kit-client and @medplum/core (tests/clients/js, from the npm registry through its
committed package-lock.json) each run the same integrator's workflow in node: create,
read, an If-Match update and a stale one (412), search paging through the `next` links,
a transaction with a `urn:uuid` reference, and delete (410 afterwards). @medplum/core
logs in first with its SMART Backend Services client assertion login
(`startJwtAssertionLogin`), which sends no `scope`: the token endpoint grants the
client's registered scopes (RFC 6749 §3.3).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.node import ensure_npm_ci
from tests.support.resources import careplan, patient, unique_cpr
from tests.support.servers import RunningServer, running_server
from tests.support.tokens import HOSPITAL_SOR, BackendClient, clients_document

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).parent / "js"
HOSPITAL_EPJ = BackendClient(
    "hospital-epj-medplum", sor=HOSPITAL_SOR, scope="system/*.cruds", kommunekode=None
)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    ensure_npm_ci(PROJECT, PROJECT / "node_modules" / "@medplum" / "core" / "package.json")
    ensure_npm_ci(PROJECT, PROJECT / "node_modules" / "fhir-kit-client" / "package.json")
    clients = tmp_path_factory.mktemp("clients") / "clients.json"
    clients.write_text(json.dumps(clients_document(HOSPITAL_EPJ)))
    env = {"ESP_ENV": "development", "ESP_CLIENTS_FILE": str(clients)}
    with running_server(database_url, workers=1, env=env) as running:
        yield running


def run_node(script: str, env: dict[str, str]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is missing (make browser installs it)"
    fixtures = {
        "patient": patient(unique_cpr()),
        "transactionPatient": patient(unique_cpr()),
        "careplan": careplan(patient_ref="Patient/replaced-by-the-script"),
    }
    done = subprocess.run(
        [node, script],
        cwd=PROJECT,
        env={**os.environ, **env, "ESP_FIXTURES": json.dumps(fixtures)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def assert_workflow(seen: dict[str, Any], stale: object, gone: object) -> None:
    assert seen["createdVersion"] == "1"
    assert seen["readId"] is True
    assert seen["updatedVersion"] == "2"
    assert seen["staleUpdate"] == stale
    assert seen["pageSizes"] == [2, 1]
    assert seen["pagedIds"] == seen["createdIds"]
    assert seen["transactionStatuses"] == ["201 Created", "201 Created"]
    assert seen["transactionSubjectResolved"] is True
    assert seen["readAfterDelete"] == gone


def test_fhir_kit_client(server: RunningServer) -> None:
    token = server.tokens.system(sor=HOSPITAL_SOR, scopes="system/*.cruds")
    seen = run_node("fhir-kit-client.mjs", {"ESP_FHIR_BASE": server.base, "ESP_TOKEN": token})
    assert_workflow(seen, stale=412, gone=410)


def test_medplum_core_client_assertion_login(server: RunningServer) -> None:
    origin = server.base.removesuffix("/fhir")
    assertion = HOSPITAL_EPJ.assertion(f"{origin}/auth/token")
    seen = run_node("medplum.mjs", {"ESP_SERVER": f"{origin}/", "ESP_CLIENT_ASSERTION": assertion})
    assert seen["login"] == {"scope": "system/*.cruds"}  # no scope asked: the registered ones
    assert_workflow(seen, stale="conflict", gone="deleted")

"""`esp-careplans export-worker` beside `serve` (PostgreSQL, processes): the worker process
runs the job, the server process serves its files from the shared ESP_EXPORT_DIR, and the
worker stops cleanly on SIGTERM (docs/bulk.md, "Running the worker")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.access.world import load_world
from tests.support.databases import database_for
from tests.support.servers import ROOT, running_server
from tests.support.tokens import HOSPITAL_SOR

pytestmark = pytest.mark.slow
ASYNC = {"Accept": "application/fhir+json", "Prefer": "respond-async"}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from database_for("postgres", tmp_path_factory.mktemp("export-worker"))


def test_the_export_worker_process_runs_jobs_the_server_serves(
    database: str, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    env = {"ESP_DELIVERY_IN_SERVE": "false", "ESP_EXPORT_DIR": str(exports)}
    with running_server(database, workers=1, env=env) as api:
        load_world(Settings(database_url=database, base_url=api.base))
        hospital = api.system_headers(sor=HOSPITAL_SOR, scopes="system/*.rs")
        kicked = httpx.get(
            f"{api.base}/$export", params={"_type": "Patient"}, headers={**ASYNC, **hospital}
        )
        assert kicked.status_code == 202, kicked.text
        status = kicked.headers["Content-Location"]
        assert httpx.get(status, headers=hospital).status_code == 202  # no worker in serve
        log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "export-worker"],
            env={
                **os.environ,
                "ESP_DATABASE_URL": database,
                "ESP_BASE_URL": api.base,
                "ESP_EXPORT_DIR": str(exports),
                "ESP_EXPORT_POLL_SECONDS": "0.2",
                "ESP_LOG_LEVEL": "WARNING",
            },
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while (answer := httpx.get(status, headers=hospital)).status_code == 202:
                assert time.monotonic() < deadline, "the worker never completed the job"
                time.sleep(0.2)
            assert answer.status_code == 200, answer.text
            (item,) = answer.json()["output"]
            ndjson = httpx.get(item["url"], headers=hospital)
            assert ndjson.status_code == 200
            assert len(ndjson.text.splitlines()) == item["count"] > 0
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=20) == 0
            log.close()

"""`make run` shows a subscription at work: Horsens Kommune's demo subscription receives the
demo's rehabilitation plans in the development server's own inbox (README, docs/events.md).

The demo is loaded into a fresh database, then the real `serve` (development: it delivers
too) starts, as `make run` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.databases import migrate
from tests.support.servers import ROOT, free_port, running_server

pytestmark = pytest.mark.slow
REHABILITATION_PLANS = 3  # Nancy (the example), Lars and Rikke: all address Horsens Kommune


def test_the_demo_municipality_receives_its_rehabilitation_plans(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    migrate(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    env = {
        **os.environ,
        "ESP_DATABASE_URL": url,
        "ESP_BASE_URL": base,
        "ESP_PORT": str(port),
        "ESP_ENV": "development",
    }
    loaded = subprocess.run(
        [sys.executable, "-m", "app.cli", "load", "--demo", "--if-empty"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    with running_server(url, workers=1, port=port, env={"ESP_ENV": "development"}) as server:
        inbox = server.base.removesuffix("/fhir") + "/dev/notifications"
        deadline = time.monotonic() + 60
        foci: list[str] = []
        while time.monotonic() < deadline:
            received = httpx.get(inbox, timeout=5).json()["received"]
            foci = [f for r in received if r["type"] == "event-notification" for f in r["focus"]]
            if len(foci) >= REHABILITATION_PLANS:
                break
            time.sleep(0.5)
        assert any(r["type"] == "handshake" for r in received)
        assert len(foci) == REHABILITATION_PLANS, received
        assert all(f.startswith(f"{base}/CarePlan/") for f in foci)

"""A delivering node that dies mid-delivery: another node delivers (PostgreSQL, processes).

Two `esp-careplans deliver` processes over one PostgreSQL: the first leases the
subscription and posts a notification that the endpoint holds unanswered; it is killed
(SIGKILL, no cleanup). When its lease runs out the second takes over and delivers: at
least once, never lost (docs/events.md).
"""

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
from tests.access.world import FHIR_JSON, _team_plan, load_world
from tests.events.test_subscriptions import subscription
from tests.support.databases import database_for
from tests.support.listener import Listener, listening
from tests.support.servers import ROOT, RunningServer, running_server
from tests.support.tokens import HOSPITAL_SOR, MUNICIPALITY_SOR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from database_for("postgres", tmp_path_factory.mktemp("durability"))


def _deliverer(database_url: str, base: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ESP_DATABASE_URL": database_url,
        "ESP_BASE_URL": base,
        "ESP_SUBSCRIPTION_LEASE_SECONDS": "2",
        "ESP_DELIVERY_POLL_SECONDS": "0.2",
        "ESP_SUBSCRIPTION_RETRY_BASE_SECONDS": "0.1",
        "ESP_LOG_LEVEL": "WARNING",
    }
    out = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "deliver"], env=env, cwd=ROOT, stdout=out, stderr=out
    )


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_other_node_delivers_when_the_delivering_node_dies(
    database: str, tmp_path: Path
) -> None:
    with (
        listening() as listener,
        running_server(database, workers=1, env={"ESP_DELIVERY_IN_SERVE": "false"}) as api,
    ):
        load_world(Settings(database_url=database, base_url=api.base))
        _scenario(api, database, listener, tmp_path)


def _scenario(api: RunningServer, database: str, listener: Listener, tmp_path: Path) -> None:
    scopes = "system/CarePlan.rs system/Subscription.cruds"
    horsens = {**api.system_headers(sor=MUNICIPALITY_SOR, scopes=scopes), **FHIR_JSON}
    created = httpx.post(
        f"{api.base}/Subscription", json=subscription(listener.url), headers=horsens
    )
    assert created.status_code == 201, created.text
    first = _deliverer(database, api.base, tmp_path / "first.log")
    second = None
    try:
        _wait(lambda: listener.handshakes() == 1, 30, "the handshake")
        listener.hold_events = 1  # the next notification gets no answer
        plan = _team_plan("gitte-rehab", "gitte", "hospital", "horsens-kommune")
        pushed = httpx.put(
            f"{api.base}/CarePlan/gitte-rehab",
            json=plan,
            headers={**api.system_headers(sor=HOSPITAL_SOR), **FHIR_JSON},
        )
        assert pushed.status_code == 201, pushed.text
        _wait(lambda: len(listener.received) == 2, 30, "the first node's notification")
        second = _deliverer(database, api.base, tmp_path / "second.log")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        focus = f"{api.base}/CarePlan/gitte-rehab/_history/1"
        _wait(lambda: listener.events() == [focus], 60, "the second node's delivery")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
    state = httpx.get(f"{api.base}/Subscription/{created.json()['id']}", headers=horsens).json()
    assert state["status"] == "active"

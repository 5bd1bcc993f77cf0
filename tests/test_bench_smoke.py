"""The benchmark harness runs end to end on a tiny data set with wrk (structure only, never
timings): every phase has its generator, worker and PostgreSQL CPU and no errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from bench import wrk
from bench.load import WORKLOADS
from bench.run import SEARCH_WORKLOADS
from tests.support.databases import DEFAULT_POSTGRES_URL, postgres_unavailable

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
NUMERIC = (
    "requests",
    "errors",
    "requests_per_s",
    "resources_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "duration_s",
    "cpu_ms_per_request",
    "server_cpu_s",
    "server_db_cpu_ms_per_request",
    "db_cpu_s",
)


def _postgres_url() -> str:
    url = os.environ.get("ESP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        postgres_unavailable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return url


def test_tiny_run_writes_the_expected_json(tmp_path: Path) -> None:
    # No skip: `make test` installs wrk (the Makefile's wrk target), as it does chromium.
    assert shutil.which("wrk"), wrk.MISSING
    output, plot = tmp_path / "latest.json", tmp_path / "latest.png"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--database-url",
        _postgres_url(),
        "--sizes",
        "200",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--series-duration",
        "0.3",
        "--series-rate",
        "20",
        "--series-concurrency",
        "2",
        "--concurrency",
        "2",
        "--pull-plans",
        "100",
        "--subject-patients",
        "1",
        "--load-resources",
        "200",
        "--output",
        str(output),
        "--plot",
        str(plot),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads(output.read_text("utf-8"))
    assert plot.stat().st_size > 0
    assert {"machine", "config", "preload", "stale", "workloads", "series", "targets"} <= set(
        results
    )
    assert results["machine"]["postgres_cpu_from_proc"] is True
    assert list(results["workloads"]) == list(WORKLOADS)
    assert list(results["stale"]) == list(SEARCH_WORKLOADS)
    phases = [*results["workloads"].items(), *results["stale"].items()]
    for name, workload in phases:
        for field in NUMERIC:
            assert isinstance(workload[field], int | float), (name, field)
        assert workload["requests"] > 0 and workload["errors"] == 0, (name, workload)
        generator = workload["generator"]
        assert isinstance(generator["cpu_s"], float) and generator["cpu_s_per_s"] >= 0, name
        if name == "cli-load":
            continue  # the loader is its own server: no workers
        assert generator["tool"] == ("python" if name == "delta-pull" else "wrk"), name
        assert isinstance(workload["server"], dict) and workload["server"], name
        for worker in workload["server"].values():
            assert isinstance(worker["rss_kib"], int)
        assert len(workload["workers_cpu_s"]) == 2, name
        ratio = workload["ratio_to_floor"]
        assert ratio is None or isinstance(ratio, int | float), name
    # The searches measured real pages: the reading organisation sees its subject patients'
    # plans (a page of 20, or all 10), and the sampled citizen's plan, conditions, patient.
    for phases in (results["workloads"], results["stale"]):
        for tier in (10, 100, 1000):
            assert phases[f"search-subject-{tier}"]["probe"] == {
                "status": 200,
                "matches": min(tier, 20),
            }
        for name in ("search-patient-plans", "search-condition", "search-patient"):
            assert phases[name]["probe"]["matches"] >= 1, (name, phases[name]["probe"])
    assert results["workloads"]["transaction"]["resources_per_s"] > 0
    assert results["workloads"]["cli-load"]["requests"] >= 200
    for name in ("create", "read", "search-subject-10", "transaction", "mixed"):
        assert isinstance(results["workloads"][name]["ratio_to_floor"], int | float), name
    pull = results["workloads"]["delta-pull"]
    assert {"pages", "plans", "duplicates", "plans_per_s"} <= set(pull)
    [point] = results["series"]
    assert point["size"] == 200 and point["resources"] >= 200
    searches = {"search-patient-plans", "search-delta", "search-condition", "search-patient"}
    assert set(point["workloads"]) == {*searches, "delta-pull"}
    assert set(point["stale"]) == searches
    for name in searches:  # constant rate: one connection per wrk thread, latency from due
        for phase in (point["workloads"][name], point["stale"][name]):
            assert phase["latency_from"] == "due", name
            assert phase["generator"]["rate"] == 20 and phase["generator"]["threads"] == 2
    assert results["workloads"]["read"]["latency_from"] == "sent"
    assert results["preload"][0]["resources_added"] >= 200
    assert {t["status"] for t in results["targets"]} <= {"PASS", "MISS", "NOT RUN"}
    judged = {t["target"] for t in results["targets"]}
    for target in (
        "read server+DB CPU (analyzed)",
        "search-subject-1000 server+DB CPU (stale)",
        "subject search flat (analyzed)",
        "transaction ingest (50 entries)",
        "esp-careplans load ingest",
        "worker balance",
        "generator CPU at the floor's rate",
    ):
        assert target in judged, target
    generator = next(t for t in results["targets"] if t["target"].startswith("generator"))
    assert generator["status"] in ("PASS", "MISS"), generator
    assert "targets" in done.stdout and "PASS" in done.stdout


def test_preload_credentials_are_renewed_when_the_service_refuses_them() -> None:
    """A preload outlives a token: on a 401 the harness asks for a new one and retries."""
    import httpx

    from bench.auth import RenewingAuth

    issued = iter(["expired", "fresh"])
    seen: list[str] = []

    def service(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        ok = request.headers["authorization"] == "Bearer fresh"
        return httpx.Response(200 if ok else 401)

    auth = RenewingAuth(lambda: {"Authorization": f"Bearer {next(issued)}"})
    with httpx.Client(auth=auth, transport=httpx.MockTransport(service)) as client:
        first = client.post("http://esp.test/fhir", content=b"{}")
        second = client.post("http://esp.test/fhir", content=b"{}")

    assert (first.status_code, second.status_code) == (200, 200)
    assert seen == ["Bearer expired", "Bearer fresh", "Bearer fresh"]
    assert auth.renewals == 1

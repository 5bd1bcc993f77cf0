"""The HTTP load generator: wrk (Debian package `wrk`) driven by bench/requests.lua.

Python prepares the requests (ids drawn from the stored sample, bodies, bundles) into a
request file once per phase; wrk's event loop in C sends them, so the generator's own CPU
stays a small fraction of what it measures (the earlier asyncio+httpx generator spent
0.7-0.9 CPU s per second on the floor workloads, issue #14). Its CPU is read from the
wrk process's rusage (wait4), so it is reported for every phase.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.load import Call

SCRIPT = Path(__file__).resolve().with_name("requests.lua")
INSTALL = "apt-get install -y wrk"
MISSING = f"the benchmark drives HTTP load with wrk, not installed: {INSTALL} (make bench does)"


def require() -> str:
    """The wrk executable, or a clear stop naming the package."""
    found = shutil.which("wrk")
    if not found:
        raise SystemExit(MISSING)
    return found


def write_requests(path: Path, calls: Iterable[Call]) -> int:
    """The request file bench/requests.lua reads; returns the number of records."""
    count = 0
    with path.open("wb") as out:
        for call in calls:
            split = urlsplit(call.url)
            target = split.path + (f"?{split.query}" if split.query else "")
            body = call.body or b""
            headers = [f"Content-Type: {call.content_type}"] if call.body is not None else []
            out.write(f"{call.method} {target} {len(headers)} {len(body)}\n".encode())
            out.write("".join(f"{h}\n" for h in headers).encode())
            out.write(body)
            count += 1
    return count


@dataclass(frozen=True, slots=True)
class Load:
    """How wrk drives one phase."""

    connections: int
    duration: float
    order: str = "random"  # "random" draws, or "once": every record at most once
    rate: float = 0.0  # requests/s in all (0: closed loop, as fast as answers come)
    entries: int = 0  # a 2xx answer must be a Bundle with this many 200/201 entries
    resources: int = 1  # resources carried by each successful request
    threads: int = 1  # closed loop: one event loop handles every connection
    timeout: float = 120.0


def _parse(stdout: str) -> dict[str, Any]:
    values: dict[str, Any] = {"statuses": {}, "samples": []}
    for line in stdout.splitlines():
        if not line.startswith("@@ "):
            continue
        key, _, rest = line[3:].partition(" ")
        if key == "status":
            code, _, count = rest.rpartition(" ")
            values["statuses"][code] = int(count)
        elif key == "sample":
            values["samples"].append(rest[:400])
        elif key == "latency_source":
            values[key] = rest
        else:
            values[key] = float(rest)
    return values


def run(root: str, requests: Path, load: Load, headers: dict[str, str]) -> dict[str, Any]:
    """Run wrk against `root` (http://127.0.0.1:port) with the request file; counts,
    statuses, latency percentiles (ms), error samples and the generator's CPU seconds."""
    threads = load.connections if load.rate else max(1, min(load.threads, load.connections))
    seconds = max(1, math.ceil(load.duration))  # wrk takes whole seconds
    command = [require(), "-t", str(threads), "-c", str(load.connections), "-d", f"{seconds}s"]
    command += ["--timeout", f"{math.ceil(load.timeout)}s", "-s", str(SCRIPT)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(root)
    env = {
        **os.environ,
        "BENCH_WRK_REQUESTS": str(requests),
        "BENCH_WRK_ORDER": load.order,
        "BENCH_WRK_RATE": str(load.rate / threads if load.rate else 0),
        "BENCH_WRK_ENTRIES": str(load.entries),
        "BENCH_WRK_THREADS": str(threads),
    }
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr)
        assert process.stdout is not None
        stdout = process.stdout.read().decode("utf-8", "replace")
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        errors = stderr.read().decode("utf-8", "replace")
    if process.returncode != 0:
        detail = errors[-2000:] + stdout[-2000:]
        raise RuntimeError(f"wrk exited with {process.returncode}: {detail}")
    v = _parse(stdout)
    duration = v["duration_us"] / 1e6
    requests_done = int(v["requests"])
    transport = sum(int(v[f"errors_{k}"]) for k in ("connect", "read", "write", "timeout"))
    failed = int(v["errors_status"]) + int(v["invalid"])
    ok = max(0, requests_done - failed)
    samples = list(v["samples"])
    if v["exhausted"]:
        samples.insert(0, "the request file was used up: prepare more requests for this phase")
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "concurrency": load.connections,
        "duration_s": round(duration, 3),
        "requests": requests_done,
        # A closed loop stops with a request outstanding on every connection; the server
        # still serves them (bench/run.py counts their CPU and them). At a constant rate
        # a connection mostly waits for its next request's time.
        "in_flight": 0 if load.rate else load.connections,
        "errors": failed + transport + int(v["exhausted"]),
        "requests_per_s": round(requests_done / duration, 2) if duration else 0.0,
        "resources_per_s": round(ok * load.resources / duration, 2) if duration else 0.0,
        "p50_ms": round(v["p50_us"] / 1000, 2),
        "p95_ms": round(v["p95_us"] / 1000, 2),
        "p99_ms": round(v["p99_us"] / 1000, 2),
        "max_ms": round(v["max_us"] / 1000, 2),
        "mean_ms": round(v["mean_us"] / 1000, 2),
        "latency_from": v.get("latency_source", "sent"),
        "statuses": v["statuses"],
        "transport_errors": transport,
        "error_samples": samples[:5],
        "generator": {
            "tool": "wrk",
            "threads": threads,
            "rate": load.rate,
            "cpu_s": round(cpu, 3),
            "cpu_s_per_s": round(cpu / duration, 4) if duration else 0.0,
        },
    }

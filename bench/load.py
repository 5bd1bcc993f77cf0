"""What the workloads send, and the delta pull (the one sequential client).

The HTTP load itself is wrk's (bench/wrk.py): `Requests` draws the calls of a workload
from the stored-data sample (ids, CPR numbers, time range, bodies) and bench/run.py writes
them into wrk's request file. The delta pull follows `next` links one page at a time, so
it runs here, in its own process:

    python -m bench.load SPEC.json OUT.json

SPEC names the base URL (loopback only), auth headers and the sample; OUT gets pages,
plans, duplicates, latency percentiles and the client's own CPU time.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from bench.data import CPR, PLAN_TYPE, World

FHIR_JSON = "application/fhir+json"
TRANSACTION_SIZE = 50
# The mixed workload: 70% reads and searches, 30% writes.
MIXED = (
    ("read", 25),
    ("search-patient-plans", 15),
    ("search-condition", 10),
    ("search-patient", 10),
    ("search-delta", 10),
    ("create", 30),
)
WORKLOADS = (
    "floor-insert",
    "floor-select",
    "create",
    "read",
    "search-subject-10",
    "search-subject-100",
    "search-subject-1000",
    "search-patient-plans",
    "search-delta",
    "search-condition",
    "search-patient",
    "transaction",
    "cli-load",
    "mixed",
    "delta-pull",
)
# GET CarePlan?subject=Patient/<id>&_count=20 on patients with this many plans each.
SUBJECT_TIERS = (10, 100, 1000)
SUBJECT_PAGE = 20


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request to make; `resources` counts what it carries (transactions)."""

    method: str
    url: str
    body: bytes | None = None
    content_type: str = FHIR_JSON
    resources: int = 1
    kind: str = ""


@dataclass(slots=True)
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    resources: int = 0
    samples: list[str] = field(default_factory=list)

    def record(self, call: Call, seconds: float, status: str, detail: str = "") -> None:
        self.latencies.append(seconds)
        self.statuses[status] += 1
        self.kinds[call.kind] += 1
        if status.isdigit() and int(status) < 400:
            self.resources += call.resources
        else:
            self.errors += 1
            if len(self.samples) < 5:
                self.samples.append(f"{call.method} {urlsplit(call.url).path} -> {status} {detail}")


class Requests:
    """Draws the next request of a workload from the stored-data sample (seeded)."""

    def __init__(self, spec: dict[str, Any], rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self.base = spec["base"]
        self.floor = spec.get("floor", "")
        sample = spec["sample"]
        self.plans: list[str] = sample["plans"]
        # [cpr, patient id, kind, status, main condition id, goal id] (bench/preload.py)
        self.citizens: list[list[str]] = sample["citizens"]
        self.active = [c for c in self.citizens if c[3] == "active"] or self.citizens
        self.floor_ids: list[int] = sample.get("floor_ids", [])
        # tier ("10", "100", "1000") -> patients with that many plans (bench/preload.py)
        self.subjects: dict[str, list[str]] = sample.get("subjects", {})
        self.since: tuple[float, float] = (float(sample["since"][0]), float(sample["since"][1]))
        self.world: World | None = None
        self.next_index = int(spec.get("index_start", 50_000_000))
        self.mixed = [name for name, _ in MIXED], [w for _, w in MIXED]

    def _world(self) -> World:
        if self.world is None:
            self.world = World(int(self.spec.get("seed", 0)) or World().seed)
            self.world.stored(self.spec["sample"]["orgs"])
        return self.world

    def _index(self) -> int:
        self.next_index += 1
        return self.next_index

    def _get(self, path: str, kind: str) -> Call:
        return Call("GET", f"{self.base}/{path}", kind=kind)

    def next(self, workload: str) -> Call:
        rng = self.rng
        if workload == "mixed":
            workload = rng.choices(*self.mixed)[0]
        if workload == "floor-insert":
            return Call(
                "POST",
                f"{self.floor}/floor",
                orjson.dumps(self._plan()),
                "application/json",
                kind=workload,
            )
        if workload == "floor-select":
            return Call("GET", f"{self.floor}/floor/{rng.choice(self.floor_ids)}", kind=workload)
        if workload == "create":
            return Call("POST", f"{self.base}/CarePlan", orjson.dumps(self._plan()), kind=workload)
        if workload == "read":
            return self._get(f"CarePlan/{rng.choice(self.plans)}", workload)
        if workload == "search-patient-plans":
            cpr, _pid, kind, *_ = rng.choice(self.active)
            return self._get(
                f"CarePlan?patient.identifier={CPR}|{cpr}&category={PLAN_TYPE}|{kind}"
                "&status=active",
                workload,
            )
        if workload == "search-delta":
            return self._get(
                f"CarePlan?category={PLAN_TYPE}|rehabilitation-plan"
                f"&_lastUpdated=gt{self._since()}&_sort=_lastUpdated&_count=100",
                workload,
            )
        if workload.startswith("search-subject-"):
            patient = rng.choice(self.subjects[workload.rsplit("-", 1)[1]])
            return self._get(f"CarePlan?subject=Patient/{patient}&_count={SUBJECT_PAGE}", workload)
        if workload == "search-condition":
            return self._get(f"Condition?patient={rng.choice(self.citizens)[1]}", workload)
        if workload == "search-patient":
            return self._get(f"Patient?identifier={CPR}|{rng.choice(self.citizens)[0]}", workload)
        if workload == "transaction":
            citizen = self._world().discharge_bundle(self._index(), TRANSACTION_SIZE)
            return Call(
                "POST",
                self.base,
                orjson.dumps(citizen.bundle),
                resources=citizen.resources,
                kind=workload,
            )
        raise ValueError(f"unknown workload {workload!r}")

    def _plan(self) -> dict[str, Any]:
        """A new CarePlan for a stored citizen, of its kind, addressing its condition."""
        _cpr, patient, kind, _status, condition, goal = self.rng.choice(self.citizens)
        return self._world().careplan(self._index(), kind, patient, condition, goal)

    def _since(self) -> str:
        """A `_lastUpdated` bound inside the preloaded range, so pages are mostly full."""
        low, high = self.since
        return instant(low + self.rng.random() * max(0.0, high - low))


def instant(epoch: float) -> str:
    """A FHIR instant in UTC with milliseconds (no `+`, so it needs no URL escaping)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(tally: Tally, seconds: float, workload: str, concurrency: int) -> dict[str, Any]:
    lat = tally.latencies
    ms = 1000.0
    return {
        "workload": workload,
        "concurrency": concurrency,
        "duration_s": round(seconds, 3),
        "requests": len(lat),
        "errors": tally.errors,
        "requests_per_s": round(len(lat) / seconds, 2) if seconds else 0.0,
        "resources_per_s": round(tally.resources / seconds, 2) if seconds else 0.0,
        "p50_ms": round(percentile(lat, 50) * ms, 2),
        "p95_ms": round(percentile(lat, 95) * ms, 2),
        "p99_ms": round(percentile(lat, 99) * ms, 2),
        "max_ms": round(max(lat, default=0.0) * ms, 2),
        "mean_ms": round(sum(lat) / len(lat) * ms, 2) if lat else 0.0,
        "statuses": dict(tally.statuses),
        "mix": dict(tally.kinds),
        "error_samples": tally.samples,
    }


async def pull(spec: dict[str, Any]) -> dict[str, Any]:
    """The delta pull with its own CPU time (the client is one sequential process)."""
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    async with httpx.AsyncClient(
        headers=spec.get("headers", {}), timeout=float(spec.get("timeout", 60)), trust_env=False
    ) as client:
        result = await delta_pull(client, spec)
    after = resource.getrusage(resource.RUSAGE_SELF)
    spent = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    result["generator"] = {
        "tool": "python",
        "cpu_s": round(spent, 3),
        "cpu_s_per_s": round(spent / result["duration_s"], 4) if result["duration_s"] else 0.0,
    }
    return result


async def delta_pull(client: httpx.AsyncClient, spec: dict[str, Any]) -> dict[str, Any]:
    """A municipality's delta pull: follow `next` links through up to `pull_plans` plans."""
    target = int(spec.get("pull_plans", 10_000))
    url: str | None = (
        f"{spec['base']}/CarePlan?category={PLAN_TYPE}|rehabilitation-plan"
        f"&_lastUpdated=gt{instant(float(spec['sample']['since'][0]))}&_sort=_lastUpdated"
        "&_count=100"
    )
    tally, duplicates = Tally(), 0
    seen: set[str] = set()
    started = time.monotonic()
    deadline = started + max(float(spec["duration"]) * 6, 60.0)
    call = Call("GET", url or "", kind="delta-pull")
    while url and len(seen) < target and time.monotonic() < deadline:
        call = Call("GET", url, kind="delta-pull")
        t0 = time.perf_counter()
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            tally.record(call, time.perf_counter() - t0, type(exc).__name__, str(exc)[:200])
            break
        elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            tally.record(call, elapsed, str(response.status_code), response.text[:300])
            break
        page = response.json()
        ids = [
            e["resource"]["id"]
            for e in page.get("entry", [])
            if e.get("search", {}).get("mode") == "match"
        ]
        duplicates += sum(1 for i in ids if i in seen)
        seen.update(ids)
        tally.record(Call("GET", url, resources=len(ids), kind="delta-pull"), elapsed, "200")
        url = next(
            (link["url"] for link in page.get("link", []) if link["relation"] == "next"), None
        )
    seconds = time.monotonic() - started
    result = summary(tally, seconds, "delta-pull", 1)
    result.update(
        pages=len(tally.latencies),
        plans=len(seen),
        duplicates=duplicates,
        plans_per_s=round(len(seen) / seconds, 2) if seconds else 0.0,
        complete=url is None or len(seen) >= target,
    )
    result["errors"] += duplicates
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__)
        return 2
    spec = json.loads(Path(args[0]).read_text("utf-8"))
    if urlsplit(spec["base"]).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing a non-loopback target: {spec['base']}")
    result = asyncio.run(pull(spec))
    Path(args[1]).write_text(json.dumps(result, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

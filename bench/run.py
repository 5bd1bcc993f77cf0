"""Orchestrates a benchmark run: schema, migration, the service and the floor on free loopback
ports, preload through the API, the search phases on stale and on fresh statistics, the
workloads driven by wrk, the size series, and the report (bench/results/latest.json and
latest.png). Every phase records the generator's, each worker's and PostgreSQL's CPU.
See docs/performance.md."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from bench import database, report, servers, wrk
from bench.auth import DEV_CLAIMS, RenewingAuth, auth_headers
from bench.cpu import PostgresCpu
from bench.data import DEFAULT_SEED, World, ndjson_lines
from bench.floor import DATABASE_ENV, create_table
from bench.load import SUBJECT_TIERS, TRANSACTION_SIZE, WORKLOADS, Call, Requests
from bench.preload import Progress, Sample, load_organisations, load_subjects, preload

RESULTS = Path(__file__).resolve().parent / "results"
SERIES_WORKLOADS = ("search-patient-plans", "search-delta", "search-condition", "search-patient")
SUBJECT_WORKLOADS = tuple(f"search-subject-{tier}" for tier in SUBJECT_TIERS)
# Run once straight after the bulk writes (no ANALYZE) and once after ANALYZE.
SEARCH_WORKLOADS = (*SUBJECT_WORKLOADS, *SERIES_WORKLOADS)
POOL = 2000  # prepared requests a random workload draws from (ids, bodies, bounds)
# Transactions are sent once each (their conditional creates must find nothing): enough
# bundles for this rate, far above the target, for the warm-up and the phase.
MIN_TRANSACTION_SECONDS = 5.0
TRANSACTION_CEILING = 60.0  # bundles/s (3,000 resources/s)
SERVER = {"AuditEvent"}
MEMORY_SAMPLE_SECONDS = 5.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark esp-careplans against a raw floor on PostgreSQL "
        "(docs/performance.md). The defaults finish in about 15 minutes on 2 cores; the full "
        "run is --sizes 10000,100000,1000000 --duration 30 (hours: preload goes through the "
        "API).",
    )
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers, service and floor")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent clients per workload")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per workload")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    p.add_argument(
        "--generator-threads",
        type=int,
        default=1,
        help="wrk threads (event loops) for the closed-loop workloads",
    )
    p.add_argument(
        "--sizes",
        default="10000,30000",
        help="comma-separated resource counts for the search-latency series; the "
        "workloads run at the first",
    )
    p.add_argument(
        "--mixed-duration",
        type=float,
        default=None,
        help="seconds for the mixed workload (default: --duration; the target asks for 300)",
    )
    p.add_argument("--series-duration", type=float, default=5.0)
    p.add_argument("--series-concurrency", type=int, default=4)
    p.add_argument(
        "--series-rate",
        type=float,
        default=0.0,
        help="requests/s for the series searches at constant rate, latency counted from "
        "when each request was due (wrk2's correction); default 0: closed loop",
    )
    p.add_argument(
        "--subject-patients",
        type=int,
        default=2,
        help=f"patients with each of {', '.join(map(str, SUBJECT_TIERS))} plans (subject search)",
    )
    p.add_argument(
        "--load-resources",
        type=int,
        default=5000,
        help="resources for the `esp-careplans load` ingest (cli-load), as NDJSON",
    )
    p.add_argument("--pull-plans", type=int, default=10_000, help="delta pull: plans to page")
    p.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of: {', '.join(WORKLOADS)}",
    )
    p.add_argument("--preload-concurrency", type=int, default=4)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument(
        "--database-url",
        default=database.admin_url(),
        help=f"PostgreSQL to create the run's schema in (env {database.ADMIN_URL_ENV})",
    )
    p.add_argument(
        "--token-command",
        help="prints a bearer token for the service (see "
        "bench/auth.py); default: BENCH_TOKEN, else a dev-issuer token, else none",
    )
    p.add_argument(
        "--app-root",
        type=Path,
        default=servers.ROOT,
        help="checkout whose `app` package is served and migrated (default: this "
        "one); e.g. an exported older commit, to compare two versions",
    )
    p.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    p.add_argument("--plot", type=Path, default=RESULTS / "latest.png")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--keep-schema", action="store_true", help="do not drop the schema at the end")
    p.add_argument(
        "--schema",
        default=None,
        help="measure a schema kept by an earlier run (--keep-schema) instead of loading a new "
        "one, e.g. another version of the app on the same 1M resources; it is migrated, never "
        "preloaded and never dropped; --sizes only label the series points",
    )
    p.add_argument(
        "--profile",
        metavar="WORKLOAD",
        help="also run WORKLOAD against one extra worker under pyinstrument; "
        "writes bench/results/profile-WORKLOAD.html",
    )
    return p


def machine_facts() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "",
    )
    mem = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        "",
    )
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class Run:
    """One benchmark run; owns its schema and server processes."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.admin = args.database_url
        self.schema = ""
        self.url = ""
        self.tmp = Path(tempfile.mkdtemp(prefix="esp-bench-"))
        self.service: servers.Server | None = None
        self.floor: servers.Server | None = None
        self.world = World(args.seed)
        self.sor_to_id: dict[str, str] = {}
        self.sample = Sample()
        self.progress = Progress()
        self.index_start = 50_000_000
        self.tag = ""  # application_name of the run's own database connections
        self.pg: PostgresCpu | None = None
        self.subjects: dict[str, list[str]] = {}
        self.results: dict[str, Any] = {
            "schema_version": 2,
            "started": datetime.now(UTC).isoformat(),
            "machine": machine_facts(),
            "config": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in vars(args).items()
                if k not in ("token_command", "database_url")
            },
            "preload": [],
            "stale": {},
            "workloads": {},
            "series": [],
        }
        self.results["config"]["sizes"] = self.sizes

    @property
    def sizes(self) -> list[int]:
        return [int(s) for s in str(self.args.sizes).split(",") if s.strip()]

    # -- setup ---------------------------------------------------------------------------

    def setup(self) -> None:
        self.results["machine"]["wrk"] = wrk.require()
        self.schema = self.args.schema or database.create_schema(self.admin)
        self.url = database.schema_url(self.admin, self.schema)
        self.tag = f"esp-bench-{self.schema}"
        self.pg = PostgresCpu(self.url, self.tag)
        self.results["machine"]["postgres_cpu_from_proc"] = self.pg.available
        print(f"schema {self.schema}: migrating", flush=True)
        database.migrate(self.url, self.args.app_root)
        create_table(self.url)
        self.results["machine"].update(database.database_facts(self.url))
        workers = self.args.workers
        port = servers.free_port()
        self.service = servers.start(
            "service",
            [servers.python(), "-m", "app.cli", "serve"],
            self.service_env(port, workers),
            port,
            "/readyz",
            self.tmp,
            workers,
            cwd=self.args.app_root,
        )
        port = servers.free_port()
        self.floor = servers.start(
            "floor",
            [servers.python(), "-m", "bench.floor", "--port", str(port), "--workers", str(workers)],
            {DATABASE_ENV: self.tagged_url},
            port,
            "/healthz",
            self.tmp,
            workers,
        )
        print(
            f"service {self.service.root} (pids {self.service.workers()}), "
            f"floor {self.floor.root} (pids {self.floor.workers()})",
            flush=True,
        )

    @property
    def tagged_url(self) -> str:
        """The run's database URL for the servers: their connections carry the run's
        application_name, which is how PostgreSQL's CPU is told apart (bench/cpu.py)."""
        return database.with_application_name(self.url, self.tag)

    def service_env(self, port: int, workers: int) -> dict[str, str]:
        """`esp-careplans serve` configuration (development mode until auth lands)."""
        return {
            "ESP_DATABASE_URL": self.tagged_url,
            "ESP_BASE_URL": f"http://127.0.0.1:{port}/fhir",
            "ESP_HOST": "127.0.0.1",
            "ESP_PORT": str(port),
            "ESP_WORKERS": str(workers),
            "ESP_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(self.args.app_root),
        }

    def teardown(self) -> None:
        for server in (self.service, self.floor):
            if server is not None:
                server.stop()
        if self.pg is not None:
            self.pg.close()
        if self.schema and not (self.args.keep_schema or self.args.schema):
            database.drop_schema(self.admin, self.schema)

    def headers(self) -> dict[str, str]:
        assert self.service is not None
        return auth_headers(self.args.token_command, self.service.root)

    @property
    def base(self) -> str:
        assert self.service is not None
        return f"{self.service.root}/fhir"

    # -- data ----------------------------------------------------------------------------

    def stored_resources(self) -> int:
        """Stored data resources: AuditEvents (written by the server on every access) and the
        floor's rows do not count towards the sizes."""
        counts = database.count_resources(self.url)
        return sum(n for t, n in counts.items() if not t.startswith("_") and t not in SERVER)

    def fill_to(self, size: int) -> None:
        """Preload through the API until at least `size` resources are stored."""
        if self.args.schema:
            self.reuse_sample()
            return
        missing = size - self.stored_resources()
        if missing > 0:
            print(f"preloading {missing:,} resources ...", flush=True)
            before = self.progress.resources
            started = time.monotonic()
            with self.sampling_memory() as memory:
                asyncio.run(self._preload(missing))
            seconds = time.monotonic() - started
            added = self.progress.resources - before
            self.results["preload"].append(
                {
                    "target": size,
                    "resources_added": added,
                    "seconds": round(seconds, 2),
                    "resources_per_s": round(added / seconds, 1) if seconds else 0.0,
                    "concurrency": self.args.preload_concurrency,
                    "memory": memory,
                }
            )
            print(f"  {added:,} resources in {seconds:.1f} s ({added / seconds:.0f}/s)", flush=True)

    def reuse_sample(self) -> None:
        """A reused schema: draw the workloads' citizens, plans and orgs from its data."""
        if self.sample.citizens:
            return
        stored = database.stored_sample(self.url, self.sample.size, str(self.args.seed))
        self.sample.citizens, self.sample.plans = stored["citizens"], stored["plans"]
        self.sor_to_id = stored["orgs"]
        self.progress.first_epoch, self.progress.last_epoch = stored["since"]
        print(f"reusing schema {self.schema}: {len(self.sample.plans)} sampled plans", flush=True)

    @contextmanager
    def sampling_memory(self) -> Iterator[list[dict[str, Any]]]:
        """Sample the service workers' RSS every few seconds while the block runs
        (the steady-RSS target: ingest must stream, not accumulate)."""
        samples: list[dict[str, Any]] = []
        stop = threading.Event()

        def sample() -> None:
            while True:
                assert self.service is not None
                rss = {pid: m["rss_kib"] for pid, m in servers.snapshot(self.service).items()}
                samples.append({"resources": self.progress.resources, "rss_kib": rss})
                if stop.wait(MEMORY_SAMPLE_SECONDS):
                    return

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield samples
        finally:
            stop.set()
            thread.join()

    async def _preload(self, resources: int) -> None:
        async with httpx.AsyncClient(
            auth=RenewingAuth(self.headers), timeout=120, trust_env=False
        ) as client:
            if not self.sor_to_id:
                self.sor_to_id = await load_organisations(client, self.base, self.world)
            await preload(
                client,
                self.base,
                self.world,
                self.progress,
                self.sample,
                resources,
                concurrency=self.args.preload_concurrency,
            )

    def seed_floor(self) -> None:
        """Rows for floor-select when floor-insert did not run: the same plans, by SQL."""
        if database.floor_ids(self.url, 1):
            return
        plans = [
            self.world.careplan(i, c[2], c[1], c[4], c[5])
            for i, c in enumerate(self.sample.citizens[:1000])
        ]
        with psycopg.connect(self.url, autocommit=True) as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO floor_resource (content) VALUES (%s::jsonb)",
                [(orjson.dumps(p).decode(),) for p in plans],
            )

    # -- workloads -----------------------------------------------------------------------

    def spec(self, workload: str) -> dict[str, Any]:
        """What a workload's requests are drawn from (bench/load.py `Requests`)."""
        assert self.floor is not None
        self.index_start += 1_000_000  # fresh citizens (CPR numbers) for every workload
        floor_ids = database.floor_ids(self.url) if workload == "floor-select" else []
        return {
            "workload": workload,
            "base": self.base,
            "floor": self.floor.root,
            "pull_plans": self.args.pull_plans,
            "seed": self.args.seed,
            "index_start": self.index_start,
            "headers": self.headers(),
            "sample": {
                "citizens": self.sample.citizens,
                "plans": self.sample.plans,
                "orgs": self.sor_to_id,
                "floor_ids": floor_ids,
                "subjects": self.subjects,
                "since": [self.progress.first_epoch - 1, self.progress.last_epoch],
            },
        }

    def requests_file(self, name: str, count: int, label: str) -> tuple[Path, Call]:
        """`count` requests of workload `name` drawn from the sample, as wrk's request file;
        and the first of them."""
        draw = Requests(self.spec(name), random.Random(f"{self.args.seed}:{name}:{label}"))
        calls: list[Call] = [draw.next(name) for _ in range(count)]
        path = self.tmp / f"{name}.{label}.requests"
        wrk.write_requests(path, calls)
        return path, calls[0]

    def probe(self, call: Call, headers: dict[str, str]) -> dict[str, Any]:
        """What one of the phase's requests answers: a search that finds nothing (say,
        because the caller may not see the plans) would be cheap and measure nothing."""
        response = httpx.get(call.url, headers=headers, timeout=120, trust_env=False)
        body = response.json() if response.status_code == 200 else {}
        matches = sum(
            1 for e in body.get("entry", []) if e.get("search", {}).get("mode", "match") == "match"
        )
        return {"status": response.status_code, "matches": matches if "entry" in body else None}

    def workload(
        self, name: str, concurrency: int, duration: float, rate: float = 0.0
    ) -> dict[str, Any]:
        """Run one phase and attribute its CPU: generator, each worker, PostgreSQL."""
        if name == "delta-pull":
            assert self.service is not None
            return self.measure(name, self.service, duration, self.delta_pull)
        if name == "cli-load":
            return self.measure(name, None, duration, self.cli_load)
        server = self.floor if name.startswith("floor") else self.service
        assert server is not None
        if name == "floor-select":
            self.seed_floor()
        once = name == "transaction"
        if once:
            # A 50-entry bundle takes a third of a second of CPU; a phase shorter than a
            # few of them measures nothing on a busy machine (it would end with all in flight).
            duration = max(duration, MIN_TRANSACTION_SECONDS)
        load = wrk.Load(
            connections=concurrency,
            duration=duration,
            order="once" if once else "random",
            rate=rate,
            entries=TRANSACTION_SIZE if once else 0,
            resources=TRANSACTION_SIZE if once else 1,
            threads=self.args.generator_threads,
        )

        def pool(seconds: float) -> int:
            return math.ceil(max(1.0, seconds) * TRANSACTION_CEILING) if once else POOL

        headers = self.headers()
        phase, first = self.requests_file(name, pool(duration), "phase")
        if self.args.warmup > 0:
            warm = self.requests_file(name, pool(self.args.warmup), "warmup")[0] if once else phase
            wrk.run(
                server.root,
                warm,
                dataclasses.replace(load, duration=self.args.warmup),
                headers,
            )

        def run() -> dict[str, Any]:
            return wrk.run(server.root, phase, load, headers)

        result = self.measure(name, server, duration, run)
        if name.startswith("search-"):
            result["probe"] = self.probe(first, headers)
            if not result["probe"]["matches"]:
                print(f"    ! {name} found nothing: {result['probe']}", flush=True)
        return result

    def measure(
        self,
        name: str,
        server: servers.Server | None,
        duration: float,
        run: Callable[[], dict[str, Any]],
    ) -> dict[str, Any]:
        """`run` the phase between two snapshots of the workers' and PostgreSQL's CPU; the
        connections each worker holds are sampled halfway through."""
        assert self.pg is not None
        if server is not None:
            settle(server)  # what the last phase (or warm-up) left in flight is not this one's
        before = servers.snapshot(server) if server else {}
        db_before = self.pg.snapshot()
        load_before = loadavg()
        held: dict[int, int] = {}
        timer = None
        if server is not None:
            port, pids = int(server.root.rsplit(":", 1)[1]), server.workers()
            timer = threading.Timer(
                max(0.5, duration / 2), lambda: held.update(servers.connections(port, pids))
            )
            timer.start()
        try:
            result = run()
        finally:
            if timer is not None:
                timer.cancel()
        if server is not None:
            # The requests still in flight when wrk stopped are served to the end (a
            # transaction commits): their CPU is this phase's, and so are they.
            settle(server)
        db = PostgresCpu.delta(db_before, self.pg.snapshot())
        result["workload"] = name
        if server is not None:
            after = servers.snapshot(server)
            workers = {
                pid: round(a["cpu_s"] - before.get(pid, {"cpu_s": 0.0})["cpu_s"], 3)
                for pid, a in after.items()
            }
            result["workers_cpu_s"] = workers
            result["server_cpu_s"] = round(sum(workers.values()), 3)
            result["balance"] = report.balance(list(workers.values()))
            result["connections"] = {str(pid): n for pid, n in held.items()}
            result["server"] = {
                pid: {"rss_kib": a["rss_kib"], "peak_kib": a["peak_kib"]}
                for pid, a in after.items()
            }
        requests = result["requests"] + result.get("in_flight", 0)
        result["db_cpu_s"] = db["cpu_s"]
        result["db_other_clients_cpu_s"] = db["other_clients_cpu_s"]
        result["cpu_ms_per_request"] = (
            round(result["server_cpu_s"] * 1000 / requests, 3) if requests else 0.0
        )
        result["server_db_cpu_ms_per_request"] = (
            round((result["server_cpu_s"] + db["cpu_s"]) * 1000 / requests, 3)
            if requests and db["cpu_s"] is not None
            else None
        )
        result["loadavg_before"] = load_before
        per = result["server_db_cpu_ms_per_request"]
        print(
            f"  {name:<22} {result['requests_per_s']:>8.1f} req/s  "
            f"p95 {result['p95_ms']:>7.2f} ms  errors {result['errors']}  "
            f"server+db {per if per is not None else '-'} ms/req  "
            f"generator {result['generator']['cpu_s_per_s']:.3f} CPU s/s",
            flush=True,
        )
        for sample in result.get("error_samples", [])[:2]:
            print(f"    ! {sample}", flush=True)
        return result

    def delta_pull(self) -> dict[str, Any]:
        """The delta pull in its own process (one sequential client)."""
        spec_path, out_path = self.tmp / "delta-pull.spec.json", self.tmp / "delta-pull.out.json"
        spec = {**self.spec("delta-pull"), "duration": self.args.series_duration}
        spec_path.write_text(json.dumps(spec), "utf-8")
        out_path.unlink(missing_ok=True)
        subprocess.run(
            [servers.python(), "-m", "bench.load", str(spec_path), str(out_path)],
            cwd=servers.ROOT,
            check=True,
            timeout=max(self.args.series_duration * 6, 60.0) + 120,
        )
        result: dict[str, Any] = json.loads(out_path.read_text("utf-8"))
        return result

    def _cli(self, *arguments: str) -> tuple[float, float, str]:
        """`esp-careplans ARGUMENTS` against the run's database: wall seconds, CPU seconds
        (its rusage) and what it printed."""
        env = {
            **os.environ,
            "ESP_DATABASE_URL": self.tagged_url,
            "ESP_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(self.args.app_root),
        }
        started = time.monotonic()
        process = subprocess.Popen(
            [servers.python(), "-m", "app.cli", *arguments],
            env=env,
            cwd=self.args.app_root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        output = process.stdout.read().decode("utf-8", "replace")
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"esp-careplans {' '.join(arguments)} failed: {output[-2000:]}")
        return seconds, usage.ru_utime + usage.ru_stime, output

    def cli_load(self) -> dict[str, Any]:
        """`esp-careplans load FILE.ndjson` of --load-resources resources (PUT with ids, in
        transactions of 500): its rate net of the command's start-up, which is measured by
        the same command on an empty file."""
        self.index_start += 1_000_000
        path, empty = self.tmp / "load.ndjson", self.tmp / "empty.ndjson"
        empty.write_bytes(b"")
        with path.open("wb") as out:
            resources = 0
            for line in ndjson_lines(self.world, self.index_start, self.args.load_resources):
                out.write(line)
                resources += 1
        startup_s, startup_cpu, _ = self._cli("load", str(empty))
        seconds, cpu, output = self._cli("load", str(path))
        loaded = int(output.split("loaded ", 1)[1].split()[0]) if "loaded " in output else 0
        net = max(seconds - startup_s, 1e-6)
        return {
            "concurrency": 1,
            "duration_s": round(seconds, 3),
            "startup_s": round(startup_s, 3),
            "requests": loaded,
            "errors": resources - loaded,
            "requests_per_s": round(loaded / net, 2),
            "resources_per_s": round(loaded / net, 2),
            "wall_resources_per_s": round(loaded / seconds, 2),
            "p50_ms": 0.0,
            "p95_ms": 0.0,
            "p99_ms": 0.0,
            "server_cpu_s": round(cpu - startup_cpu, 3),
            "error_samples": [] if loaded == resources else [output[-300:]],
            "generator": {"tool": "esp-careplans load", "cpu_s": 0.0, "cpu_s_per_s": 0.0},
        }

    def load_subject_patients(self) -> None:
        """The subject-search patients (10, 100 and 1,000 plans each), once per run."""
        if self.subjects or self.args.schema:
            return
        sor = str(DEV_CLAIMS["dk_org_sor"])
        org = next(o for o in self.world.orgs if o.sor == sor)
        author = {"reference": f"Organization/{self.sor_to_id[sor]}", "display": org.name}
        plans = sum(SUBJECT_TIERS) * self.args.subject_patients
        print(f"loading {plans:,} plans of the subject-search patients ...", flush=True)
        started = time.monotonic()

        async def load() -> dict[str, list[str]]:
            async with httpx.AsyncClient(
                auth=RenewingAuth(self.headers), timeout=300, trust_env=False
            ) as client:
                return await load_subjects(
                    client,
                    self.base,
                    self.world,
                    author,
                    SUBJECT_TIERS,
                    self.args.subject_patients,
                    start=900_000_000,
                )

        self.subjects = asyncio.run(load())
        seconds = time.monotonic() - started
        self.results["subjects"] = {
            "tiers": list(SUBJECT_TIERS),
            "patients_per_tier": self.args.subject_patients,
            "plans": plans,
            "seconds": round(seconds, 2),
        }
        print(f"  {plans:,} plans in {seconds:.1f} s", flush=True)

    def run(self) -> dict[str, Any]:
        args = self.args
        chosen = [w.strip() for w in str(args.workloads).split(",") if w.strip()]
        unknown = set(chosen) - set(WORKLOADS)
        if unknown:
            raise SystemExit(f"unknown workloads: {', '.join(sorted(unknown))}")
        if args.schema and any(n in chosen for n in SUBJECT_WORKLOADS):
            # Their patients are written by the run that loads the data; a reused schema
            # does not say which they are.
            print("the subject searches are not run on a reused schema (--schema)", flush=True)
            chosen = [n for n in chosen if n not in SUBJECT_WORKLOADS]
        sizes = self.sizes
        self.setup()
        self.fill_to(sizes[0])
        if any(n in chosen for n in SUBJECT_WORKLOADS):
            # Statistics of the preloaded data first: without any, the subject patients'
            # thousand plans are written at a few per second (each write's access check
            # plans against empty statistics).
            database.analyze(self.url)
            self.load_subject_patients()
        # Straight after a burst of writes, before ANALYZE (autovacuum is off here, as on
        # production machines of this kind): the planner's statistics are stale.
        print("search phases on stale statistics (no ANALYZE since the bulk writes)", flush=True)
        for name in [n for n in SEARCH_WORKLOADS if n in chosen]:
            self.results["stale"][name] = self.workload(name, args.concurrency, args.duration)
        stale = self.series_searches(chosen)
        database.analyze(self.url)
        self.series_point(sizes[0], chosen, stale)
        print(
            f"workloads at {self.stored_resources():,} resources, concurrency "
            f"{args.concurrency}, {args.duration} s each (after ANALYZE)",
            flush=True,
        )
        for name in chosen:
            concurrency = 1 if name in ("delta-pull", "cli-load") else args.concurrency
            duration = args.duration
            if name == "mixed" and args.mixed_duration:
                duration = args.mixed_duration
            self.results["workloads"][name] = self.workload(name, concurrency, duration)
        for size in sizes[1:]:
            self.fill_to(size)
            stale = self.series_searches(chosen)
            database.analyze(self.url)
            self.series_point(size, chosen, stale)
        if args.profile:
            self.profile(args.profile)
        return self.results

    def series_searches(self, chosen: list[str]) -> dict[str, Any]:
        """The series' searches at --series-concurrency (and --series-rate)."""
        return {
            name: self.workload(
                name, self.args.series_concurrency, self.args.series_duration, self.args.series_rate
            )
            for name in SERIES_WORKLOADS
            if name in chosen
        }

    def series_point(self, size: int, chosen: list[str], stale: dict[str, Any]) -> None:
        resources = self.stored_resources()
        counts = database.count_resources(self.url)
        print(f"series at {resources:,} resources (after ANALYZE)", flush=True)
        point: dict[str, Any] = {
            "size": size,
            "resources": resources,
            "counts": counts,
            "stale": stale,
            "workloads": self.series_searches(chosen),
        }
        if "delta-pull" in chosen:
            point["workloads"]["delta-pull"] = self.workload(
                "delta-pull", 1, self.args.series_duration
            )
        self.results["series"].append(point)

    def profile(self, name: str) -> None:
        """One extra single-worker service under pyinstrument while `name` runs against it;
        the session is rendered as HTML (to browse) and text (to grep)."""
        port = servers.free_port()
        RESULTS.mkdir(parents=True, exist_ok=True)
        session = self.tmp / f"profile-{name}.pyisession"
        profiled = servers.start(
            "profiled",
            [
                servers.python(),
                "-m",
                "pyinstrument",
                "-r",
                "session",
                "-o",
                str(session),
                "-m",
                "app.cli",
                "serve",
            ],
            self.service_env(port, 1),
            port,
            "/readyz",
            self.tmp,
            1,
            cwd=self.args.app_root,
        )
        service, self.service = self.service, profiled
        try:
            result = self.workload(name, self.args.concurrency, self.args.duration)
        finally:
            self.service = service
            profiled.stop()  # SIGINT: uvicorn exits cleanly and pyinstrument writes
        outputs = {}
        for renderer, suffix in (("html", "html"), ("text", "txt")):
            output = RESULTS / f"profile-{name}.{suffix}"
            subprocess.run(
                [
                    servers.python(),
                    "-m",
                    "pyinstrument",
                    "--load",
                    str(session),
                    "-r",
                    renderer,
                    "-o",
                    str(output),
                ],
                check=True,
            )
            outputs[renderer] = str(output)
        self.results["profile"] = {"workload": name, **outputs, **result}
        print(f"profile written to {', '.join(outputs.values())}", flush=True)


SETTLE_TICKS = 2  # idle: the workers' CPU grew by at most this many clock ticks ...
SETTLE_SECONDS = 0.25  # ... in this long
SETTLE_TIMEOUT = 180.0


def settle(server: servers.Server) -> None:
    """Wait until the server's workers are idle (requests a client gave up on, e.g. at the
    end of a wrk run, are still served to the end)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last = sum(w["cpu_s"] for w in servers.snapshot(server).values())
    while time.monotonic() < deadline:
        time.sleep(SETTLE_SECONDS)
        now = sum(w["cpu_s"] for w in servers.snapshot(server).values())
        if now - last <= SETTLE_TICKS / servers.CLK_TCK:
            return
        last = now


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # SIGTERM ends the run like Ctrl+C: servers stopped, schema dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = Run(args)
    started = time.monotonic()
    try:
        results = run.run()
    finally:
        run.teardown()
    results["finished"] = datetime.now(UTC).isoformat()
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    report.add_ratios(results["workloads"])
    report.add_ratios(results["stale"], results["workloads"])
    results["targets"] = report.targets(results)
    report.write_json(results, args.output)
    if not args.no_plot:
        report.plot(results, args.plot)
    print()
    print(report.table(results))
    print(f"\nwrote {args.output}" + ("" if args.no_plot else f" and {args.plot}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

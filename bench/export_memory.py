"""Bulk export memory: export a large synthetic set and print the worker's peak RSS.

    python -m bench.export_memory --resources 50000 [--database-url postgresql://...]

Loads about `--resources` resources of synthetic citizens (bench/data.py) as one hospital
(so it is their author and may see them all), queues a system-level `$export` for a
Backend Services client of that hospital, and runs the export worker in a fresh process
until the job is complete. That process prints its RSS before the job and its peak RSS
(getrusage), with what it wrote: the peak should not grow with `--resources` (the worker
holds one page of `ESP_EXPORT_PAGE_SIZE` resources at a time). docs/bulk.md. Nothing is
asserted; this is a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from app.access.principal import Principal
from app.cli import cmd_db
from app.interactions.access_setup import ExternalRegistries
from app.interactions.export import ExportService
from app.loader import as_organisation, load_bundle, load_ndjson
from app.main import export_settings, export_worker
from app.settings import Settings
from app.storage.engine import create_engine_async
from app.storage.unit_of_work import Storage
from bench.data import World, ndjson_lines, organisation_bundle


def _rss_kib() -> int:
    """The current resident set size (Linux /proc), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _load(settings: Settings, resources: int, work: Path) -> str:
    """Load the synthetic set as its first hospital; that hospital's SOR code."""
    world = World()
    writer = world.hospitals[0].sor
    answer = await load_bundle(
        settings, organisation_bundle(world.orgs), principal=as_organisation(writer)
    )
    # response.location: [base/]Organization/<id>/_history/<vid>
    ids = [
        e["response"]["location"].split("Organization/")[1].split("/")[0] for e in answer["entry"]
    ]
    world.stored({org.sor: rid for org, rid in zip(world.orgs, ids, strict=True)})
    data = work / "synthetic.ndjson"
    with data.open("wb") as out:
        for line in ndjson_lines(world, 0, resources):
            out.write(line)
    await load_ndjson(settings, data, principal=as_organisation(writer))
    return writer


async def _kickoff(settings: Settings, sor: str) -> str:
    engine = create_engine_async(settings.database_url)
    try:
        service = ExportService(
            Storage(engine, base_url=settings.base_url), export_settings(settings)
        )
        client = Principal.organisation(sor, client_id="esp-bench-export", scopes="system/*.rs")
        url = await service.kickoff(client, "system", [], request_url="bench", lenient=False)
        return url.rsplit("/", 1)[1]
    finally:
        await engine.dispose()


async def _work(settings: Settings) -> dict[str, object]:
    """Run the export worker until no job is left; what it did and its memory."""
    engine = create_engine_async(settings.database_url)
    try:
        worker = export_worker(
            settings, Storage(engine, base_url=settings.base_url), ExternalRegistries()
        )
        before = _rss_kib()
        jobs = 0
        while await worker.run_once():
            jobs += 1
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        files = list(settings.export_dir.rglob("*.ndjson"))
        lines = 0
        for path in files:
            with path.open("rb") as handle:
                lines += sum(1 for _ in handle)
        return {
            "jobs": jobs,
            "files": len(files),
            "resources_exported": lines,
            "bytes_exported": sum(p.stat().st_size for p in files),
            "rss_before_kib": before,
            "peak_rss_kib": peak,
            "page_size": settings.export_page_size,
        }
    finally:
        await engine.dispose()


def _settings(database_url: str, export_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        export_dir=export_dir,
        cursor_secret="bench-export",
        log_level="WARNING",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export_memory", description=__doc__)
    parser.add_argument("--resources", type=int, default=20_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--export-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:  # the measured process: nothing loaded in it but the worker
        result = asyncio.run(_work(_settings(args.database_url, args.export_dir)))
        print(json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory(prefix="esp-export-bench-") as tmp:
        work = Path(tmp)
        url = args.database_url or f"sqlite:///{work / 'bench.db'}"
        settings = _settings(url, work / "exports")
        cmd_db(argparse.Namespace(action="upgrade", revision=None), settings)
        sor = asyncio.run(_load(settings, args.resources, work))
        job = asyncio.run(_kickoff(settings, sor))
        print(f"loaded ~{args.resources} resources; export job {job}", flush=True)
        measured = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.export_memory",
                "--worker",
                "--database-url",
                url,
                "--export-dir",
                str(settings.export_dir),
            ],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "ESP_LOG_LEVEL": "WARNING"},
        )
        result = json.loads(measured.stdout.strip().splitlines()[-1])
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The `esp-careplans` command: serve, db, load, deliver, export-worker, export-openapi, reindex."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
import uvicorn
from alembic import command
from alembic.config import Config

from app import serving
from app.access.authorities import Authorities
from app.api.http_protocol import FhirHttpToolsProtocol
from app.demo import load_demo
from app.fhir.outcome import FhirError
from app.interactions.access_setup import ExternalRegistries
from app.loader import LOADER, as_organisation, database_has_patients, load_bundle, load_ndjson
from app.main import create_app, delivery_worker, export_worker, external_registries
from app.settings import Settings, get_settings
from app.storage.engine import create_engine_async
from app.storage.indexer import rebuild_if_stale, reindex
from app.storage.unit_of_work import Storage

ROOT = Path(__file__).resolve().parent.parent
ASGI_APP = "app.main:asgi"


def _project_root() -> Path:
    """The folder holding alembic.ini: the working directory (containers) or the checkout."""
    return Path.cwd() if (Path.cwd() / "alembic.ini").is_file() else ROOT


def _alembic_config(settings: Settings) -> Any:
    root = _project_root()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["database_url"] = settings.database_url
    return config


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    config = _alembic_config(settings)
    if args.action == "upgrade":
        command.upgrade(config, args.revision or "head")
        rebuilt = asyncio.run(_rebuild_stale_access_rows(settings))
        if rebuilt is not None:
            print(f"rebuilt the index and access rows of {rebuilt} resources")
    else:
        command.downgrade(config, args.revision or "-1")
    return 0


def _authorities(settings: Settings) -> Authorities:
    return Authorities(
        relation=settings.relation_authority_sors, custody=settings.custody_authority_sors
    )


async def _rebuild_stale_access_rows(settings: Settings) -> int | None:
    """After a migration that changed how access rows are derived (it leaves a marker)."""
    engine = create_engine_async(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await rebuild_if_stale(conn, _authorities(settings))
    finally:
        await engine.dispose()


def _listen_on(args: argparse.Namespace, settings: Settings) -> Settings:
    """`--host`/`--port` as if given as ESP_HOST/ESP_PORT, so the workers' settings (and
    the base URL they derive when ESP_BASE_URL is unset) agree with where we listen."""
    given = {"ESP_HOST": args.host, "ESP_PORT": None if args.port is None else str(args.port)}
    given = {name: value for name, value in given.items() if value is not None}
    if not given:
        return settings
    os.environ.update(given)
    get_settings.cache_clear()
    return get_settings()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings = _listen_on(args, settings)
    if args.migrate:
        cmd_db(argparse.Namespace(action="upgrade", revision=None), settings)
    workers = args.workers or settings.workers
    options: dict[str, Any] = {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 20,
        "proxy_headers": True,
        # No `Server: uvicorn` banner; httptools, with heads refused in FHIR (414/431/400).
        "server_header": False,
        "http": FhirHttpToolsProtocol,
    }
    if workers > 1 and serving.available():
        # One listening socket per worker, so keep-alive connections spread over all
        # of them (app/serving.py, docs/scaling.md).
        return serving.run(ASGI_APP, workers, **options)
    uvicorn.run(ASGI_APP, workers=workers, **options)
    return 0


def _load_demo(settings: Settings, *, if_empty: bool) -> int:
    print(asyncio.run(load_demo(settings, if_empty=if_empty)).summary())
    return 0


def cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    if args.demo == bool(args.file):
        print("esp-careplans load: give either FILE or --demo", file=sys.stderr)
        return 2
    try:
        if args.demo:
            return _load_demo(settings, if_empty=args.if_empty)
        if args.if_empty and asyncio.run(database_has_patients(settings)):
            print("not loaded: the database already holds patients (--if-empty)")
            return 0
        principal = as_organisation(args.as_organisation) if args.as_organisation else LOADER
        if args.file.endswith((".ndjson", ".jsonl")):
            path = Path(args.file)
            count = asyncio.run(
                load_ndjson(settings, path, chunk_size=args.chunk, principal=principal)
            )
            print(f"loaded {count} resources")
            return 0
        document = json.loads(Path(args.file).read_text(encoding="utf-8"))
        response = asyncio.run(load_bundle(settings, document, principal=principal))
    except FhirError as exc:
        print(
            json.dumps({"error": exc.status, "issues": [i.to_fhir() for i in exc.issues]}, indent=2)
        )
        return 1
    statuses = [e.get("response", {}).get("status", "") for e in response.get("entry", [])]
    print(f"loaded {len(statuses)} entries: " + ", ".join(sorted(set(statuses))))
    return 0


def cmd_export_openapi(args: argparse.Namespace, settings: Settings) -> int:
    document = json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
    if args.output == "-":
        sys.stdout.write(document)
    else:
        Path(args.output).write_text(document, encoding="utf-8")
    return 0


async def _reindex(settings: Settings, types: list[str] | None) -> int:
    engine = create_engine_async(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await reindex(conn, _authorities(settings), types)
    finally:
        await engine.dispose()


class _Worker(Protocol):
    name: str

    async def run_forever(self, stop: asyncio.Event) -> None: ...


async def _run_worker(
    settings: Settings,
    make: Callable[[Storage, httpx.AsyncClient, ExternalRegistries], _Worker],
    doing: str,
) -> None:
    """Run a background worker until SIGINT or SIGTERM."""
    engine = create_engine_async(settings.database_url)
    http = httpx.AsyncClient(timeout=settings.external_timeout_seconds, follow_redirects=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        storage = Storage(engine, base_url=settings.base_url)
        worker = make(storage, http, external_registries(settings, http))
        print(f"{doing} as {worker.name}", flush=True)
        await worker.run_forever(stop)
    finally:
        await http.aclose()
        await engine.dispose()


def cmd_deliver(args: argparse.Namespace, settings: Settings) -> int:
    def make(storage: Storage, http: httpx.AsyncClient, registries: ExternalRegistries) -> _Worker:
        return delivery_worker(settings, storage, http, registries)

    asyncio.run(_run_worker(settings, make, "delivering subscription notifications"))
    return 0


def cmd_export_worker(args: argparse.Namespace, settings: Settings) -> int:
    def make(storage: Storage, http: httpx.AsyncClient, registries: ExternalRegistries) -> _Worker:
        return export_worker(settings, storage, registries)

    asyncio.run(_run_worker(settings, make, "running Bulk Data export jobs"))
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    count = asyncio.run(_reindex(settings, args.types or None))
    print(f"reindexed {count} resources")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="esp-careplans", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API (ESP_HOST, ESP_PORT, ESP_WORKERS)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    serve.set_defaults(run=cmd_serve)

    db = commands.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade"])
    db.add_argument("revision", nargs="?")
    db.set_defaults(run=cmd_db)

    load = commands.add_parser("load", help="load a Bundle (or resource) through the API code path")
    load.add_argument(
        "file", nargs="?", help="a Bundle or resource (.json), or resources one per line (.ndjson)"
    )
    load.add_argument("--demo", action="store_true", help="load the demo data set (docs/demo.md)")
    load.add_argument(
        "--chunk", type=int, default=500, help="resources per transaction for .ndjson files"
    )
    load.add_argument(
        "--if-empty", action="store_true", help="do nothing when the database holds any Patient"
    )
    load.add_argument(
        "--as-organisation",
        metavar="SOR",
        help="load as this organisation (it becomes the author; every access rule applies)",
    )
    load.set_defaults(run=cmd_load)

    rebuild = commands.add_parser(
        "reindex",
        help="rebuild search indexes and access rows from the current versions "
        "(also after changing ESP_RELATION_AUTHORITIES)",
    )
    rebuild.add_argument("types", nargs="*", help="resource types (default: all)")
    rebuild.set_defaults(run=cmd_reindex)

    deliver = commands.add_parser(
        "deliver", help="deliver Subscription notifications (run one or more in production)"
    )
    deliver.set_defaults(run=cmd_deliver)

    exporter = commands.add_parser(
        "export-worker",
        help="run Bulk Data $export jobs and delete expired ones (run one or more in production)",
    )
    exporter.set_defaults(run=cmd_export_worker)

    export = commands.add_parser("export-openapi", help="write the OpenAPI document")
    export.add_argument("--output", default=str(ROOT / "openapi" / "openapi.json"))
    export.set_defaults(run=cmd_export_openapi)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args, get_settings()))


if __name__ == "__main__":
    sys.exit(main())

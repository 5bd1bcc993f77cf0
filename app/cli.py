"""The `esp-careplans` command: serve, db upgrade/downgrade, load, export-openapi, reindex."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from app.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent


def _project_root() -> Path:
    """The folder holding alembic.ini: the working directory (containers) or the checkout."""
    return Path.cwd() if (Path.cwd() / "alembic.ini").is_file() else ROOT


def _alembic_config(settings: Settings) -> Any:
    from alembic.config import Config

    root = _project_root()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["database_url"] = settings.database_url
    return config


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from alembic import command

    config = _alembic_config(settings)
    if args.action == "upgrade":
        command.upgrade(config, args.revision or "head")
    else:
        command.downgrade(config, args.revision or "-1")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if args.migrate:
        cmd_db(argparse.Namespace(action="upgrade", revision=None), settings)
    uvicorn.run(
        "app.main:asgi",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
        proxy_headers=True,
    )
    return 0


def _bundle_for_load(document: dict[str, Any]) -> dict[str, Any]:
    """A transaction to load: transactions and batches as they are; other Bundles as PUTs."""
    if document.get("resourceType") != "Bundle":
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [_put_entry(document)],
        }
    if document.get("type") in ("transaction", "batch"):
        return document
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [_put_entry(e["resource"]) for e in document.get("entry", []) if "resource" in e],
    }


def _put_entry(resource: dict[str, Any]) -> dict[str, Any]:
    if "id" in resource:
        request = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    else:
        request = {"method": "POST", "url": resource["resourceType"]}
    return {"resource": resource, "request": request}


async def load_bundle(settings: Settings, document: dict[str, Any]) -> dict[str, Any]:
    """Load through the same code path as POST /fhir, as a trusted internal caller."""
    from app.interactions.context import RequestContext
    from app.interactions.request import FhirRequest
    from app.main import build_service

    service = build_service(settings)
    try:
        secret = await service.storage.setting("cursor_secret")
        service.cursor_key = (settings.cursor_secret or secret or "").encode()
        ctx = RequestContext(request_id=f"load-{uuid.uuid4().hex[:12]}")
        result = await service.execute(
            ctx, FhirRequest(method="POST", body=_bundle_for_load(document))
        )
        return result.body or {}
    finally:
        await service.storage.dispose()


def cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    from app.fhir.outcome import FhirError

    document = json.loads(Path(args.file).read_text(encoding="utf-8"))
    try:
        response = asyncio.run(load_bundle(settings, document))
    except FhirError as exc:
        print(
            json.dumps({"error": exc.status, "issues": [i.to_fhir() for i in exc.issues]}, indent=2)
        )
        return 1
    statuses = [e.get("response", {}).get("status", "") for e in response.get("entry", [])]
    print(f"loaded {len(statuses)} entries: " + ", ".join(sorted(set(statuses))))
    return 0


def cmd_export_openapi(args: argparse.Namespace, settings: Settings) -> int:
    from app.main import create_app

    document = json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
    if args.output == "-":
        sys.stdout.write(document)
    else:
        Path(args.output).write_text(document, encoding="utf-8")
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
    load.add_argument("file")
    load.set_defaults(run=cmd_load)

    export = commands.add_parser("export-openapi", help="write the OpenAPI document")
    export.add_argument("--output", default=str(ROOT / "openapi" / "openapi.json"))
    export.set_defaults(run=cmd_export_openapi)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args, get_settings()))


if __name__ == "__main__":
    sys.exit(main())

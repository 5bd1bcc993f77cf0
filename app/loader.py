"""Loading Bundles through the same code path as `POST /fhir`.

Used by `esp-careplans load` and the demo data set. A load runs as a principal like any
request: by default the internal job `load` (an operator action: no access rule limits
it, and it is audited as itself), or as an organisation (`--as-organisation SOR`), which
then is the author of what it writes and is held to every rule, exactly as its own
backend client would be.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from app.access.principal import Principal
from app.fhir.outcome import FhirError
from app.interactions.context import RequestContext
from app.interactions.request import FhirRequest
from app.interactions.service import FhirService
from app.main import build_service
from app.settings import Settings


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


@asynccontextmanager
async def _internal_service(settings: Settings) -> AsyncIterator[FhirService]:
    service = build_service(settings)
    try:
        secret = await service.storage.setting("cursor_secret")
        service.cursor_key = (settings.cursor_secret or secret or "").encode()
        yield service
    finally:
        await service.storage.dispose()


LOADER = Principal.internal("load")


def as_organisation(sor: str) -> Principal:
    """The principal of a load made for the organisation with SOR code `sor`."""
    return Principal.organisation(sor, client_id="esp-careplans-load", scopes="system/*.cruds")


async def _execute(
    service: FhirService, document: dict[str, Any], principal: Principal
) -> dict[str, Any]:
    ctx = RequestContext(request_id=f"load-{uuid.uuid4().hex[:12]}", principal=principal)
    result = await service.execute(ctx, FhirRequest(method="POST", body=_bundle_for_load(document)))
    return result.body or {}


async def load_bundle(
    settings: Settings, document: dict[str, Any], *, principal: Principal = LOADER
) -> dict[str, Any]:
    """Load through the same code path as POST /fhir, as `principal`."""
    async with _internal_service(settings) as service:
        return await _execute(service, document, principal)


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            chunk.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            raise FhirError.of(400, "structure", f"Line {number} is not JSON") from None
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def load_ndjson(
    settings: Settings, path: Path, *, chunk_size: int = 500, principal: Principal = LOADER
) -> int:
    """Stream an NDJSON file (one resource per line) in transactions of `chunk_size`.

    Memory stays flat whatever the file size: one chunk is read, loaded and dropped at a
    time (the bulk-data format, FHIR R4 nd-json). Each chunk is all-or-nothing.
    """
    loaded = 0
    async with _internal_service(settings) as service:
        with path.open(encoding="utf-8") as lines:
            for chunk in _chunks(lines, chunk_size):
                bundle = {
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": [_put_entry(resource) for resource in chunk],
                }
                await _execute(service, bundle, principal)
                loaded += len(chunk)
    return loaded


async def database_has_patients(settings: Settings) -> bool:
    """Any Patient at all? Asked as a batch GET, through the same code path."""
    count = {"request": {"method": "GET", "url": "Patient?_summary=count"}}
    response = await load_bundle(
        settings, {"resourceType": "Bundle", "type": "batch", "entry": [count]}
    )
    return int(response["entry"][0].get("resource", {}).get("total", 0)) > 0

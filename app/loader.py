"""Loading Bundles through the same code path as `POST /fhir`, as a trusted internal caller.

Used by `esp-careplans load` and the demo data set. Internal loads have no principal:
they are operator actions, so no access rule applies and no AuditEvent is written.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.interactions.context import RequestContext
from app.interactions.request import FhirRequest
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


async def load_bundle(settings: Settings, document: dict[str, Any]) -> dict[str, Any]:
    """Load through the same code path as POST /fhir, as a trusted internal caller."""
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


async def database_has_patients(settings: Settings) -> bool:
    """Any Patient at all? Asked as a batch GET, through the same code path."""
    count = {"request": {"method": "GET", "url": "Patient?_summary=count"}}
    response = await load_bundle(
        settings, {"resourceType": "Bundle", "type": "batch", "entry": [count]}
    )
    return int(response["entry"][0].get("resource", {}).get("total", 0)) > 0

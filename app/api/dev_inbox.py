"""A notification endpoint of the development server itself (`/dev/notifications`).

The demo's subscription (Horsens Kommune's, for rehabilitation plans) points here, so
`make run` shows a subscription at work without a second program: what arrived is kept
in memory (the last 100) and listed by `GET /dev/notifications`. Development only.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from fastapi import APIRouter, Request

from app.api.body import read_json
from app.settings import Settings

KEPT = 100


def dev_inbox_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["Development"], include_in_schema=False)
    received: deque[dict[str, Any]] = deque(maxlen=KEPT)

    @router.post("/dev/notifications", status_code=204)
    async def receive(request: Request) -> None:
        received.append(await read_json(request, settings))

    @router.get("/dev/notifications")
    async def listing() -> dict[str, Any]:
        """The notifications received, newest last, each as its event numbers and foci."""
        return {
            "received": [
                {
                    "type": _parameter(bundle, "type"),
                    "subscription": _parameter(bundle, "subscription"),
                    "focus": [entry.get("fullUrl") for entry in bundle.get("entry", [])[1:]],
                }
                for bundle in received
            ]
        }

    return router


def _parameter(bundle: dict[str, Any], name: str) -> Any:
    try:
        parameters = bundle["entry"][0]["resource"]["parameter"]
    except (KeyError, IndexError, TypeError):
        return None
    for parameter in parameters:
        if parameter.get("name") == name:
            value = parameter.get("valueCode") or parameter.get("valueReference", {})
            return value.get("reference") if isinstance(value, dict) else value
    return None

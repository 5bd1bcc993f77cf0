"""Horsens Kommune's subscription to the rehabilitation plans addressed to it.

Its endpoint is the development server's own inbox (`/dev/notifications`,
app/api/dev_inbox.py), so after `make run` the demo's rehabilitation plans arrive there
as id-only notifications: `curl http://127.0.0.1:8080/dev/notifications` (docs/events.md).
It is written before the plans, by Horsens Kommune's system, so they are its events.
"""

from __future__ import annotations

from typing import Any

from app.demo.organisations import HORSENS
from app.fhir.profiles.canonical import PLAN_TYPE_SYSTEM, PlanType

INBOX_PATH = "/dev/notifications"


def inbox_url(port: int) -> str:
    """The development server's own notification inbox, on loopback (where `serve` also
    listens whatever the public base URL is; loopback endpoints are for development)."""
    return f"http://127.0.0.1:{port}{INBOX_PATH}"


def subscription_bundle(port: int) -> dict[str, Any]:
    endpoint = inbox_url(port)
    subscription = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": f"{HORSENS.name}: nye og ændrede genoptræningsplaner",
        "criteria": f"CarePlan?category={PLAN_TYPE_SYSTEM}|{PlanType.REHABILITATION_PLAN}",
        "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json"},
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": subscription,
                "request": {
                    "method": "POST",
                    "url": "Subscription",
                    "ifNoneExist": f"url={endpoint}",
                },
            }
        ],
    }

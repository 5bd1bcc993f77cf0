"""Calls the service's own FHIR API with the citizen's token, in process over ASGI.

httpx's ASGITransport sends each call through the whole app (authentication,
access rules, audit, error handling) exactly as an external request, without a
network hop, a loopback port to configure or TLS to terminate; the base URL is
ESP_BASE_URL, so links and AuditEvents name the public address.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import ASGIApp

FHIR_JSON = "application/fhir+json"
Params = Mapping[str, str | Sequence[str]]


@dataclass
class FhirRefusal(Exception):
    """A non-2xx answer; `code` is the OperationOutcome's rule (details.coding[0].code)."""

    status: int
    code: str
    message: str


def _refusal(response: httpx.Response) -> FhirRefusal:
    code, message = "", response.reason_phrase
    try:
        issue = response.json().get("issue", [{}])[0]
        codings = (issue.get("details") or {}).get("coding") or [{}]
        code = str(codings[0].get("code") or issue.get("code") or "")
        message = str(issue.get("diagnostics") or message)
    except (ValueError, AttributeError, IndexError):
        pass
    return FhirRefusal(response.status_code, code, message)


class FhirClient:
    """A FHIR client for one citizen token."""

    def __init__(self, app: ASGIApp, base_url: str, token: str, request_id: str = "") -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}
        if request_id:
            headers["X-Request-Id"] = request_id
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=30.0,
        )

    async def __aenter__(self) -> FhirClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._client.request(method, path, **kwargs)
        if response.status_code >= 300:
            raise _refusal(response)
        body = response.json() if response.content else {}
        return body if isinstance(body, dict) else {}

    async def read(self, path: str) -> dict[str, Any]:
        return await self._send("GET", path)

    async def search(
        self, resource_type: str, params: Params | None = None
    ) -> list[dict[str, Any]]:
        """Every entry of every page (the portal asks for small sets)."""
        bundle = await self._send("GET", resource_type, params=dict(params or {}))
        entries = list(bundle.get("entry", []))
        for _ in range(20):
            link = next(
                (x["url"] for x in bundle.get("link", []) if x.get("relation") == "next"), None
            )
            if not link:
                break
            bundle = await self._send("GET", link)
            entries.extend(bundle.get("entry", []))
        return entries

    async def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        return await self._send(
            "POST", resource["resourceType"], json=resource, headers={"Content-Type": FHIR_JSON}
        )

    async def update(self, resource: dict[str, Any]) -> dict[str, Any]:
        path = f"{resource['resourceType']}/{resource['id']}"
        return await self._send("PUT", path, json=resource, headers={"Content-Type": FHIR_JSON})

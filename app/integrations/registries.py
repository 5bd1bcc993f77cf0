"""The custody registry and the treatment-relation service, behind small protocols.

Wire contract (docs/authorization.md): `POST <url>` with a JSON body, answered
`200 {"result": true|false}`. CPR numbers travel in the body, never in the URL.
An unreachable or misbehaving service makes the request that needs it fail with
503: a missing answer is never taken as "allowed".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import httpx

from app.fhir.outcome import FhirError


class ServiceUnavailable(FhirError):
    def __init__(self, service: str) -> None:
        issues = FhirError.of(503, "transient", f"The {service} did not answer; try again").issues
        super().__init__(503, issues, {"Retry-After": "5"})


class CustodyRegistry(Protocol):
    async def has_custody(self, parent_cpr: str, child_cpr: str) -> bool: ...


class TreatmentRelationService(Protocol):
    async def has_relation(self, org_sor: str, patient_cpr: str) -> bool: ...


async def _ask(client: httpx.AsyncClient, url: str, body: dict[str, str], service: str) -> bool:
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError:
        raise ServiceUnavailable(service) from None
    if response.status_code != 200:
        raise ServiceUnavailable(service)
    try:
        result = response.json().get("result")
    except (ValueError, AttributeError):
        raise ServiceUnavailable(service) from None
    if not isinstance(result, bool):
        raise ServiceUnavailable(service)
    return result


@dataclass
class HttpCustodyRegistry:
    url: str
    client: httpx.AsyncClient

    async def has_custody(self, parent_cpr: str, child_cpr: str) -> bool:
        body = {"parent_cpr": parent_cpr, "child_cpr": child_cpr}
        return await _ask(self.client, self.url, body, "custody registry")


@dataclass
class HttpTreatmentRelationService:
    url: str
    client: httpx.AsyncClient

    async def has_relation(self, org_sor: str, patient_cpr: str) -> bool:
        body = {"org_sor": org_sor, "patient_cpr": patient_cpr}
        return await _ask(self.client, self.url, body, "treatment-relation service")


@dataclass
class FakeCustodyRegistry:
    """In-memory stand-in: the (parent, child) pairs with custody."""

    pairs: set[tuple[str, str]] = field(default_factory=set)

    async def has_custody(self, parent_cpr: str, child_cpr: str) -> bool:
        return (parent_cpr, child_cpr) in self.pairs


@dataclass
class FakeTreatmentRelationService:
    """In-memory stand-in: the (SOR, patient CPR) pairs with a treatment relation."""

    pairs: set[tuple[str, str]] = field(default_factory=set)

    async def has_relation(self, org_sor: str, patient_cpr: str) -> bool:
        return (org_sor, patient_cpr) in self.pairs

""" "Mine børn": which children the API confirms, asked child by child with a custody token.

A parent's own token cannot read the custody records (they are in the child's
compartment), so the portal asks for each candidate child named by the login
(the persona list in development, the IdP's `dk_children` claim in production) and
lets the API's custody rule (app/access/custody.py) answer: 200 = verified custody of
a child under 15; 403 `child-15-or-over-sundhedsloven-39a` = listed with the
explanation; any other refusal (e.g. `no-verified-custody`) = not shown.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp

from app.fhir.names import display_name
from app.portal.fhir_client import FhirClient, FhirRefusal
from app.portal.tokens import ChildTokens, TokenUnavailable

OVER_15 = "child-15-or-over-sundhedsloven-39a"


def patient_name(patient: dict[str, Any]) -> str:
    return display_name(patient) or "Ukendt navn"


async def discover(
    app: ASGIApp,
    base_url: str,
    candidates: Iterable[tuple[str, str]],
    tokens: ChildTokens,
    request_id: str = "",
) -> dict[str, dict[str, Any]]:
    """opaque id -> {state: ok|over15, name, token, patient_id, expires_in}."""
    found: dict[str, dict[str, Any]] = {}
    for cpr, name in candidates:
        try:
            issued = await tokens(cpr)
        except TokenUnavailable:
            continue  # no token for this child: nothing to show
        async with FhirClient(app, base_url, issued.access_token, request_id) as fhir:
            try:
                entries = await fhir.search("Patient")
            except FhirRefusal as refusal:
                if refusal.code == OVER_15:
                    found[secrets.token_urlsafe(9)] = {"state": "over15", "name": name}
                continue
        if not entries:
            continue
        patient = entries[0]["resource"]
        found[secrets.token_urlsafe(9)] = {
            "state": "ok",
            "name": patient_name(patient),
            "token": issued.access_token,
            "patient_id": patient["id"],
            "expires_in": issued.expires_in,
        }
    return found

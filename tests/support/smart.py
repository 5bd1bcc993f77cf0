"""SMART App Launch test helpers: app registrations, PKCE pairs and reading the sign-in pages."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Sequence
from typing import Any

from joserfc.jwk import Key

from tests.support.tokens import public_jwks

APP_SCOPE = (
    "launch/patient openid fhirUser offline_access online_access patient/*.rs patient/Consent.cud"
)


def pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def app_registration(
    client_id: str,
    redirect_uris: Sequence[str],
    *,
    scope: str = APP_SCOPE,
    key: Key | None = None,
    grant_types: Sequence[str] = ("authorization_code", "refresh_token"),
) -> dict[str, Any]:
    """An ESP_CLIENTS_FILE entry for a SMART app: public, or confidential with `key`."""
    entry: dict[str, Any] = {
        "client_id": client_id,
        "client_name": f"Testapp {client_id}",
        "grant_types": list(grant_types),
        "redirect_uris": list(redirect_uris),
        "scope": scope,
        "token_endpoint_auth_method": "private_key_jwt" if key else "none",
    }
    if key is not None:
        entry["jwks"] = public_jwks(key)
    return entry


def hidden_field(page: str, name: str) -> str:
    """The value of the hidden input `name` on a sign-in page."""
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page)
    assert match, f"no hidden field {name} on the page"
    return html.unescape(match.group(1))


def button_values(page: str, name: str) -> list[str]:
    """The values of the submit buttons called `name` (the choices a page offers)."""
    return [
        html.unescape(v)
        for v in re.findall(rf'<button type="submit" name="{name}" value="([^"]*)"', page)
    ]

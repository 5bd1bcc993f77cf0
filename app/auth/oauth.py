"""OAuth 2.0 token-endpoint answers: errors (RFC 6749 §5.2) and success (§5.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ErrorCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
]

# RFC 6749 §5.1: token responses must not be cached.
NO_STORE: dict[str, str] = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class OAuthError(Exception):
    """An RFC 6749 §5.2 error; `invalid_client` is 401, the others 400."""

    error: ErrorCode
    description: str

    def __str__(self) -> str:
        return f"{self.error}: {self.description}"

    @property
    def status(self) -> int:
        return 401 if self.error == "invalid_client" else 400

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def token_response(access_token: str, expires_in: int, scope: str) -> dict[str, Any]:
    """The RFC 6749 §5.1 / SMART Backend Services success body."""
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope,
    }

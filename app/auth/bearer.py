"""Bearer-token extraction and the challenges sent when it fails (RFC 6750 §2.1, §3)."""

from __future__ import annotations

import re

from app.fhir.outcome import FhirError

REALM = "esp-careplans"
# RFC 6750 §3: error_description is a quoted-string of printable ASCII minus `"` and `\`.
_UNSAFE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
# `\s` is str.isspace() character for character (both Py_UNICODE_ISSPACE); one regex
# search instead of a Python loop over a token of a kilobyte, on every request.
_WHITESPACE = re.compile(r"\s")


def missing_token() -> FhirError:
    """401 for a request without bearer credentials: a challenge with no error code (§3.1)."""
    return FhirError.of(
        401,
        "login",
        "Authentication required: send 'Authorization: Bearer <access token>'",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
    )


def invalid_token(description: str) -> FhirError:
    """401 for a token that is malformed, expired, untrusted or carries bad claims (§3.1)."""
    safe = _UNSAFE.sub("?", description)[:200]
    challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="{safe}"'
    headers = {"WWW-Authenticate": challenge}
    return FhirError.of(401, "login", f"Invalid access token: {description}", headers=headers)


def keys_unavailable(description: str) -> FhirError:
    """503 when an issuer's signing keys cannot be fetched: the client is not at fault."""
    return FhirError.of(
        503,
        "transient",
        f"Cannot verify the access token now: {description}",
        headers={"Retry-After": "5"},
    )


def bearer_token(authorization: str | None) -> str:
    """The token from an `Authorization: Bearer <token>` header value (RFC 6750 §2.1)."""
    if not authorization:
        raise missing_token()
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise missing_token()  # other schemes carry no bearer credentials
    token = credentials.strip()
    if not token or _WHITESPACE.search(token):
        raise invalid_token("malformed bearer credentials")
    return token

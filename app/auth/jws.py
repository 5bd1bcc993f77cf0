"""Reading a JWS before verifying it: only to pick the issuer and key (RFC 8725 §3.1)."""

from __future__ import annotations

import json
from typing import Any

from joserfc.errors import JoseError
from joserfc.jws import extract_compact


class MalformedJws(ValueError):
    """Not a compact JWS we accept; the message says why."""


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and unverified payload of a compact JWS with a JSON-object payload."""
    try:
        obj = extract_compact(token.encode("ascii"))
        payload = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise MalformedJws("not a JWS compact serialization") from exc
    if not isinstance(payload, dict):
        raise MalformedJws("payload is not a JSON object")
    if "b64" in obj.headers() or "crit" in obj.headers():
        raise MalformedJws("critical header parameters are not accepted")
    return obj.headers(), payload

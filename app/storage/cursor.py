"""Opaque, integrity-protected paging cursors (keyset positions, never offsets)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from app.fhir.outcome import bad_request

_MAC_BYTES = 16


def encode_cursor(payload: dict[str, Any], key: bytes) -> str:
    body = orjson.dumps(payload)
    mac = hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")


def decode_cursor(token: str, key: bytes, *, parameter: str = "_cursor") -> dict[str, Any]:
    """The payload of a cursor made with `key`; 400 if it was altered or made elsewhere."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        raise bad_request("The paging cursor is malformed", parameter, "cursor") from None
    mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    expected = hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise bad_request(
            "The paging cursor was altered or is not from this server", parameter, "cursor"
        )
    payload = orjson.loads(body)
    if not isinstance(payload, dict):
        raise bad_request("The paging cursor is malformed", parameter, "cursor")
    return payload

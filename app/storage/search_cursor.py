"""Keyset positions of a search page, carried in the signed cursor of app.storage.cursor.

A position holds the sort values and pk of the boundary row, the direction, the
delta-pull watermark and the digest of the query it belongs to; a cursor from
another query (or altered, or signed with another key) is a 400 (R4 search.html#paging).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from app.fhir.outcome import bad_request
from app.storage.cursor import decode_cursor as decode_signed
from app.storage.cursor import encode_cursor as encode_signed

Direction = Literal["next", "prev"]
CURSOR_PARAM = "_cursor"


@dataclass(frozen=True, slots=True)
class Cursor:
    query_key: str
    direction: Direction
    values: tuple[Any, ...]  # sort values of the boundary row (datetime, str or None)
    pk: int
    watermark: datetime | None


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        return datetime.fromisoformat(value["t"])
    return value


def encode_cursor(cursor: Cursor, key: bytes) -> str:
    return encode_signed(
        {
            "s": "search",
            "q": cursor.query_key,
            "d": cursor.direction[0],
            "v": [_encode_value(v) for v in cursor.values],
            "p": cursor.pk,
            "w": cursor.watermark.isoformat() if cursor.watermark else None,
        },
        key,
    )


def decode_cursor(token: str, key: bytes, query_key: str) -> Cursor:
    """The position in `token`, verified against `key` and the current query; else 400."""
    data = decode_signed(token, key, parameter=CURSOR_PARAM)
    try:
        if data["s"] != "search":
            raise ValueError("not a search cursor")
        cursor = Cursor(
            query_key=str(data["q"]),
            direction="prev" if data["d"] == "p" else "next",
            values=tuple(_decode_value(v) for v in data["v"]),
            pk=int(data["p"]),
            watermark=datetime.fromisoformat(data["w"]) if data["w"] else None,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise bad_request("The paging cursor is malformed", CURSOR_PARAM, "cursor") from exc
    if not hmac.compare_digest(cursor.query_key, query_key):
        raise bad_request("The paging cursor belongs to a different search", CURSOR_PARAM, "cursor")
    return cursor

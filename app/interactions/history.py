"""History at instance, type and system level (R4 http.html#history)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.fhir.bundle import bundle, links, status_line
from app.fhir.instant import format_instant
from app.fhir.outcome import bad_request
from app.interactions.paging import CURSOR_PARAM, count_param, page_url
from app.interactions.request import FhirRequest
from app.interactions.result import Result
from app.interactions.session import Session
from app.storage.cursor import decode_cursor, encode_cursor
from app.storage.records import StoredResource
from app.storage.repository import HistoryQuery

_SUPPORTED = {"_count", "_since", "_at", CURSOR_PARAM, "_format", "_pretty"}
_METHOD_STATUS = {"POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}


def instant_param(req: FhirRequest, name: str) -> datetime | None:
    raw = req.param(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{name} must be an instant such as 2024-01-31T12:00:00Z", name) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _entry(base_url: str, stored: StoredResource) -> dict[str, Any]:
    full_url = f"{base_url}/{stored.reference}"
    entry: dict[str, Any] = {"fullUrl": full_url}
    if stored.content is not None:
        entry["resource"] = stored.content
    entry["request"] = {
        "method": stored.method,
        "url": stored.resource_type if stored.method == "POST" else stored.reference,
    }
    entry["response"] = {
        "status": status_line(_METHOD_STATUS.get(stored.method, 200)),
        "etag": stored.etag,
        "lastModified": format_instant(stored.last_updated),
    }
    return entry


async def history(
    s: Session,
    req: FhirRequest,
    *,
    cursor_key: bytes,
    default_count: int,
    max_count: int,
) -> Result:
    for name, _ in req.query:
        if name not in _SUPPORTED:
            raise bad_request(f"Unknown history parameter '{name}'", name)
    after = None
    token = req.param(CURSOR_PARAM)
    if token:
        payload = decode_cursor(token, cursor_key, parameter=CURSOR_PARAM)
        after = (datetime.fromisoformat(payload["t"]), int(payload["pk"]), int(payload["v"]))
    count = count_param(req, default_count, max_count)
    repo = s.repo
    rows = await repo.history(
        HistoryQuery(
            resource_type=req.resource_type,
            resource_id=req.resource_id,
            since=instant_param(req, "_since"),
            at=instant_param(req, "_at"),
            count=count,
            after=after,
        )
    )
    page, more = rows[:count], len(rows) > count
    s.touch((stored.pk, stored.reference) for stored in page)
    next_url = None
    if more and page:
        last = page[-1]
        cursor = encode_cursor(
            {"t": last.last_updated.isoformat(), "pk": last.pk, "v": last.version_id}, cursor_key
        )
        next_url = page_url(repo.base_url, req, cursor)
    body = bundle(
        "history",
        (_entry(repo.base_url, stored) for stored in page),
        link=links(self=page_url(repo.base_url, req, token), next=next_url),
        last_updated=repo.stamp,
    )
    return Result(200, body=body)

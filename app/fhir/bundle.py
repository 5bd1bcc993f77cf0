"""Bundle builders for searchset, history and batch/transaction responses (R4 bundle.html)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from http import HTTPStatus
from typing import Any

from app.fhir.instant import format_instant
from app.fhir.outcome import Issue, operation_outcome


def status_line(status: int) -> str:
    """`201 Created`: Bundle.entry.response.status."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def links(**urls: str | None) -> list[dict[str, str]]:
    return [{"relation": rel, "url": url} for rel, url in urls.items() if url]


def outcome_entry(issues: Iterable[Issue]) -> dict[str, Any]:
    """A searchset entry carrying warnings about the search (R4 search.html#errors)."""
    return {"resource": operation_outcome(issues), "search": {"mode": "outcome"}}


def bundle(
    bundle_type: str,
    entries: Iterable[dict[str, Any]],
    *,
    total: int | None = None,
    link: Sequence[dict[str, str]] = (),
    last_updated: datetime | None = None,
    bundle_id: str | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {"resourceType": "Bundle"}
    if bundle_id:
        result["id"] = bundle_id
    if last_updated is not None:
        result["meta"] = {"lastUpdated": format_instant(last_updated)}
    result["type"] = bundle_type
    if total is not None:
        result["total"] = total
    if link:
        result["link"] = list(link)
    result["entry"] = list(entries)
    if not result["entry"]:
        del result["entry"]
    return result


def response_entry(
    status: int,
    *,
    resource: dict[str, Any] | None = None,
    full_url: str | None = None,
    location: str | None = None,
    etag: str | None = None,
    last_modified: datetime | None = None,
    outcome: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A batch/transaction-response entry."""
    entry: dict[str, Any] = {}
    if full_url:
        entry["fullUrl"] = full_url
    if resource is not None:
        entry["resource"] = resource
    response: dict[str, Any] = {"status": status_line(status)}
    if location:
        response["location"] = location
    if etag:
        response["etag"] = etag
    if last_modified is not None:
        response["lastModified"] = format_instant(last_modified)
    if outcome is not None:
        response["outcome"] = outcome
    entry["response"] = response
    return entry

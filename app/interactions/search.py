"""Search at type and system level, rendered as a searchset Bundle (R4 search.html)."""

from __future__ import annotations

from typing import Any

from app.fhir.bundle import bundle, links, outcome_entry
from app.fhir.outcome import Issue, warning
from app.fhir.search.model import SearchRequest
from app.fhir.search.parse import parse_search
from app.fhir.search.summary import apply_summary
from app.interactions.paging import CURSOR_PARAM, page_url
from app.interactions.request import FhirRequest
from app.interactions.result import Result
from app.interactions.session import Session
from app.storage.repository import SearchLimits
from app.storage.search_rows import StoredRow


def _types(req: FhirRequest) -> list[str]:
    return [req.resource_type] if req.resource_type else []


def _entry(
    base_url: str, row: StoredRow, mode: str, summary: str | None, elements: tuple[str, ...]
) -> dict[str, Any]:
    return {
        "fullUrl": f"{base_url}/{row.res_type}/{row.res_id}",
        "resource": apply_summary(row.content, summary, elements),
        "search": {"mode": mode},
    }


async def search(s: Session, req: FhirRequest, limits: SearchLimits, cursor_key: bytes) -> Result:
    repo = s.repo
    criteria = [(k, v) for k, v in req.query if k != CURSOR_PARAM]
    request = parse_search(
        _types(req),
        criteria,
        base_url=repo.base_url,
        lenient=req.lenient,
        default_count=limits.default_count,
        max_count=limits.max_count,
    )
    return await searchset(s, req, request, limits, cursor_key)


async def searchset(
    s: Session,
    req: FhirRequest,
    request: SearchRequest,
    limits: SearchLimits,
    cursor_key: bytes,
    *,
    interaction: str = "search",
) -> Result:
    """One page of a parsed search as a searchset Bundle, its rows audited as touched;
    the paging links repeat `req`'s own URL and parameters."""
    repo = s.repo
    token = req.param(CURSOR_PARAM)
    page = await repo.search(
        request, cursor=token, cursor_key=cursor_key, limits=limits, interaction=interaction
    )
    s.touch((row.pk, f"{row.res_type}/{row.res_id}") for row in (*page.matches, *page.includes))
    base = repo.base_url
    entries = [
        _entry(base, row, "match", request.summary, request.elements) for row in page.matches
    ]
    entries += [
        _entry(base, row, "include", request.summary, request.elements) for row in page.includes
    ]
    notes: list[Issue] = list(request.warnings)
    if page.include_cap_reached:
        notes.append(
            warning(
                "too-costly",
                f"Included resources were capped at {limits.max_includes}; narrow the search",
                rule="include-cap",
            )
        )
    if notes:
        entries.append(outcome_entry(notes))
    # The links name only the parameters the search used (R4 search.html#errors).
    used = req.without(request.ignored)
    body = bundle(
        "searchset",
        entries,
        total=page.total,
        link=links(
            self=page_url(base, used, token),
            next=page_url(base, used, page.next_cursor) if page.next_cursor else None,
            previous=page_url(base, used, page.prev_cursor) if page.prev_cursor else None,
        ),
        last_updated=page.watermark or repo.stamp,
    )
    return Result(200, body=body)

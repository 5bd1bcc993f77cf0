"""Batch and transaction Bundles at POST [base] (R4 http.html#transaction).

A transaction is one unit of work: entries run in the spec's order (DELETE,
POST, PUT/PATCH, GET), `urn:uuid:` fullUrls and conditional references are
resolved to real ids before anything is written, and any failure rolls back
every entry. A batch runs each entry in its own unit of work.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

from app.fhir.bundle import response_entry, status_line
from app.fhir.outcome import FhirError, Issue, bad_request, operation_outcome
from app.fhir.primitives import check_storable
from app.interactions.conditional import (
    match_for_create,
    parse_criteria,
    resolve_reference,
    single_match,
)
from app.interactions.context import RequestContext
from app.interactions.request import FhirRequest, parse_entry_url
from app.interactions.result import Result
from app.interactions.session import Session
from app.storage.repository import criteria_key

# R4 http.html#trules: the order entries of a transaction are processed in.
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_INTERACTION = {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}

Handle = Callable[[Session, FhirRequest], Awaitable[Result]]


@dataclass(slots=True)
class _Entry:
    index: int
    full_url: str | None
    request: FhirRequest
    # The resource's id once resolved (creates get theirs before anything is written).
    target_id: str | None = None


def check_unique_full_urls(raw_entries: list[Any]) -> None:
    """R4 bundle.html bdl-7: a fullUrl names one entry (references resolve through it)."""
    first: dict[str, int] = {}
    for index, raw in enumerate(raw_entries):
        full_url = raw.get("fullUrl") if isinstance(raw, dict) else None
        if not isinstance(full_url, str):
            continue
        if full_url in first:
            raise bad_request(
                f"Bundle.entry[{index}].fullUrl '{full_url}' is also the fullUrl of "
                f"Bundle.entry[{first[full_url]}]; each entry needs its own",
                f"Bundle.entry[{index}].fullUrl",
                rule="bdl-7",
            )
        first[full_url] = index


def _entries(bundle: dict[str, Any], base_url: str, outer: FhirRequest) -> list[_Entry]:
    entries = []
    for index, raw in enumerate(bundle.get("entry") or []):
        where = f"Bundle.entry[{index}]"
        request = raw.get("request") if isinstance(raw, dict) else None
        if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
            raise bad_request("Each entry needs request.method and request.url", f"{where}.request")
        method = str(request["method"]).upper()
        if method not in _ORDER:
            raise bad_request(f"Unsupported method '{method}'", f"{where}.request.method")
        for field in ("url", "ifNoneExist"):  # before their criteria reach the database
            if isinstance(request.get(field), str):
                check_storable(unquote(request[field]), f"{where}.request.{field}", where)
        try:
            parsed = parse_entry_url(method, str(request["url"]), base_url)
        except FhirError as exc:
            raise _at_entry(exc, index) from None
        parsed = replace(
            parsed,
            body=raw.get("resource"),
            if_match=request.get("ifMatch"),
            if_none_exist=request.get("ifNoneExist"),
            if_none_match=request.get("ifNoneMatch"),
            prefer_return=outer.prefer_return,
            prefer_handling=outer.prefer_handling,
        )
        if method in ("POST", "PUT") and not isinstance(parsed.body, dict):
            raise bad_request(f"A {method} entry needs a resource", f"{where}.resource")
        if method == "PATCH":
            parsed = replace(parsed, body=_patch_body(raw, where))
        entries.append(_Entry(index, raw.get("fullUrl"), parsed))
    return entries


def _patch_body(raw: dict[str, Any], where: str) -> Any:
    """A PATCH entry carries its JSON Patch as a Binary (R4 http.html#patch)."""
    resource = raw.get("resource")
    if isinstance(resource, dict) and resource.get("resourceType") == "Binary":
        try:
            return orjson.loads(base64.b64decode(resource.get("data", "")))
        except (ValueError, orjson.JSONDecodeError):
            raise bad_request(
                "The Binary does not hold a JSON Patch", f"{where}.resource"
            ) from None
    raise bad_request(
        "A PATCH entry needs a Binary resource holding a JSON Patch", f"{where}.resource"
    )


def _entry_path(expression: str, index: int) -> str:
    """`CarePlan.status` → `Bundle.entry[3].resource.status`."""
    if expression.startswith("Bundle."):
        return expression
    _type, dot, rest = expression.partition(".")
    return f"Bundle.entry[{index}].resource" + (f".{rest}" if dot else "")


def _at_entry(exc: FhirError, index: int) -> FhirError:
    """The same error, its paths pointing into the entry it came from."""
    issues = [
        Issue(
            i.severity,
            i.code,
            f"Bundle.entry[{index}]: {i.diagnostics}",
            tuple(_entry_path(e, index) for e in i.expression) or (f"Bundle.entry[{index}]",),
            i.rule,
        )
        for i in exc.issues
    ]
    return FhirError(exc.status, issues, exc.headers)


def _rewrite_references(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in mapping:
                result[key] = mapping[value]
            else:
                result[key] = _rewrite_references(value, mapping)
        return result
    if isinstance(node, list):
        return [_rewrite_references(item, mapping) for item in node]
    return node


def _references(node: Any) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "reference" and isinstance(value, str):
                    found.append(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _conditional_criteria(entries: list[_Entry]) -> list[tuple[str, list[tuple[str, str]]]]:
    found = []
    for entry in entries:
        req = entry.request
        if req.resource_type is None:
            continue
        if req.method == "POST" and req.if_none_exist:
            found.append(
                (
                    req.resource_type,
                    parse_qsl(req.if_none_exist.lstrip("?"), keep_blank_values=True),
                )
            )
        elif req.method in ("PUT", "PATCH", "DELETE") and req.resource_id is None and req.query:
            found.append((req.resource_type, list(req.query)))
    return found


async def _resolve_ids(s: Session, entries: list[_Entry]) -> dict[str, str]:
    """Decide every created or conditionally targeted id; map fullUrls to `Type/id`.

    Conditional criteria match only what the caller may see for the entry's own
    interaction (conditional.py), so a hidden match is no match here either.
    """
    # Take every conditional lock up front in one global order, so two transactions
    # naming the same criteria in different orders cannot deadlock.
    criteria = sorted(_conditional_criteria(entries), key=lambda c: criteria_key(*c))
    for resource_type, pairs in criteria:
        await s.repo.lock_criteria(resource_type, pairs)
    mapping: dict[str, str] = {}
    for entry in entries:
        req = entry.request
        if req.method == "POST" and req.resource_type:
            match = None
            if req.if_none_exist:
                pairs = parse_criteria(req.if_none_exist, "ifNoneExist")
                match = await match_for_create(s, req.resource_type, pairs)
            if match is None:
                # Decided now so that other entries can reference it; the criteria lock is held.
                entry.target_id = str(uuid.uuid4())
                entry.request = replace(req, resource_id=entry.target_id, if_none_exist=None)
            else:
                entry.target_id = match.id
        elif req.method in ("PUT", "PATCH", "DELETE") and req.resource_type:
            if req.resource_id is None and req.query:
                found = await single_match(
                    s, req.resource_type, list(req.query), _INTERACTION[req.method]
                )
                entry.target_id = found.id if found else None
                if entry.target_id is None and req.method == "PUT":
                    body_id = req.body.get("id") if isinstance(req.body, dict) else None
                    entry.target_id = body_id or str(uuid.uuid4())
                if entry.target_id is not None:
                    body = req.body
                    if req.method == "PUT" and isinstance(body, dict):
                        body = {**body, "id": entry.target_id}
                    entry.request = replace(req, resource_id=entry.target_id, query=(), body=body)
            else:
                entry.target_id = req.resource_id
        if entry.full_url and entry.target_id and req.resource_type:
            mapping[entry.full_url] = f"{req.resource_type}/{entry.target_id}"
    return mapping


async def _resolve_conditional_references(
    s: Session, entries: list[_Entry], mapping: dict[str, str]
) -> None:
    """`Patient?identifier=...` references (R4 http.html#trules) → `Patient/id`."""
    for entry in entries:
        for reference in _references(entry.request.body):
            if "?" not in reference or reference in mapping or reference.startswith("urn:"):
                continue
            target = await resolve_reference(s, reference)
            if target is None:
                raise bad_request(
                    f"The conditional reference '{reference}' matches nothing",
                    f"Bundle.entry[{entry.index}].resource",
                )
            mapping[reference] = f"{reference.partition('?')[0]}/{target}"


def _check_unresolved(entries: list[_Entry], mapping: dict[str, str]) -> None:
    for entry in entries:
        for reference in _references(entry.request.body):
            if reference.startswith("urn:uuid:") and reference not in mapping:
                raise bad_request(
                    f"The reference '{reference}' names no entry of this transaction",
                    f"Bundle.entry[{entry.index}].resource",
                )


def _check_overlaps(entries: list[_Entry]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for entry in entries:
        req = entry.request
        if req.method == "GET" or entry.target_id is None or req.resource_type is None:
            continue
        key = (req.resource_type, entry.target_id)
        if key in seen:
            raise bad_request(
                f"Entries {seen[key]} and {entry.index} both change {key[0]}/{key[1]}",
                f"Bundle.entry[{entry.index}]",
            )
        seen[key] = entry.index


def response_of(result: Result, req: FhirRequest, base_url: str) -> dict[str, Any]:
    """A batch/transaction-response entry: the entry's HTTP answer as Bundle data
    (R4 bundle.html Bundle.entry.response; the HTTP rendering is app/api/responses.py)."""
    stored = result.stored
    return response_entry(
        result.status,
        resource=result.body_for(req.method, req.prefer_return) if req.method != "DELETE" else None,
        full_url=f"{base_url}/{stored.reference}" if stored else None,
        location=result.location_url(base_url),
        etag=stored.etag if stored else None,
        last_modified=stored.last_updated if stored else None,
    )


async def run_transaction(
    s: Session, bundle: dict[str, Any], outer: FhirRequest, handle: Handle
) -> dict[str, Any]:
    """All entries in the session's one transaction; any FhirError aborts the whole Bundle."""
    entries = _entries(bundle, s.repo.base_url, outer)
    mapping = await _resolve_ids(s, entries)
    await _resolve_conditional_references(s, entries, mapping)
    _check_unresolved(entries, mapping)
    _check_overlaps(entries)
    for entry in entries:
        if entry.request.body is not None and entry.request.method in ("POST", "PUT"):
            entry.request = replace(
                entry.request, body=_rewrite_references(entry.request.body, mapping)
            )
    siblings = {
        f"{e.request.resource_type}/{e.target_id}": e.request.body
        for e in entries
        if e.target_id and isinstance(e.request.body, dict) and e.request.method in ("POST", "PUT")
    }
    responses: dict[int, dict[str, Any]] = {}
    for entry in sorted(entries, key=lambda e: (_ORDER[e.request.method], e.index)):
        request = replace(entry.request, siblings=siblings)
        try:
            result = await handle(s, request)
        except FhirError as exc:
            raise _at_entry(exc, entry.index) from None
        responses[entry.index] = response_of(result, request, s.repo.base_url)
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [responses[i] for i in range(len(entries))],
    }


async def run_batch(
    ctx: RequestContext,
    bundle: dict[str, Any],
    outer: FhirRequest,
    base_url: str,
    handle_alone: Callable[[RequestContext, FhirRequest], Awaitable[Result]],
) -> dict[str, Any]:
    """Each entry independently; a failing entry answers with its OperationOutcome."""
    raw_entries = bundle.get("entry") or []
    responses = []
    for index, raw in enumerate(raw_entries):
        try:
            (entry,) = _entries({"entry": [raw]}, base_url, outer)
            if any(r.startswith("urn:uuid:") for r in _references(entry.request.body)):
                raise bad_request("Batch entries cannot reference each other by urn:uuid")
            result = await handle_alone(ctx, entry.request)
            responses.append(response_of(result, entry.request, base_url))
        except FhirError as exc:
            failure = _at_entry(exc, index)
            responses.append(
                {
                    "response": {
                        "status": status_line(exc.status),
                        "outcome": operation_outcome(failure.issues),
                    }
                }
            )
    return {"resourceType": "Bundle", "type": "batch-response", "entry": responses}

"""Instance and type interactions: create, read, vread, update, patch, delete (R4 http.html)."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from app.fhir.outcome import FhirError, bad_request, information, operation_outcome
from app.interactions.conditional import match_for_create, parse_criteria, single_match
from app.interactions.request import FhirRequest, version_from_etag
from app.interactions.result import Result
from app.interactions.session import Session
from app.interactions.writes import WriteChecks, check_type_writable
from app.storage.records import StoredResource


class HiddenFromCaller(FhirError):
    """404 for a resource that exists but the caller may not see: audited as a refusal."""

    def __init__(self, resource_type: str, resource_id: str, pk: int) -> None:
        super().__init__(
            404,
            FhirError.of(404, "not-found", f"{resource_type}/{resource_id} is not known").issues,
        )
        self.pk = pk


def _if_match(req: FhirRequest) -> int | None:
    return version_from_etag(req.if_match) if req.if_match else None


def _require_type(req: FhirRequest) -> str:
    if req.resource_type is None:
        raise bad_request("A resource type is required")
    return req.resource_type


def _id(req: FhirRequest) -> str:
    if req.resource_id is None:
        raise bad_request("A resource id is required")
    return req.resource_id


async def _target_id(
    s: Session, req: FhirRequest, resource_type: str, interaction: str
) -> str | None:
    """The id in the URL, or of the one visible resource the criteria match (None: no match)."""
    if req.resource_id is not None:
        return req.resource_id
    if not req.query:
        raise bad_request(f"{req.method} needs a resource id or search criteria")
    match = await single_match(s, resource_type, list(req.query), interaction)
    return None if match is None else match.id


async def visible_current(
    s: Session, resource_type: str, resource_id: str, interaction: str = "read"
) -> StoredResource | None:
    """The current version if the caller may see it for `interaction` (deleted ones with
    `deleted` set and no content); None if there is none at all.

    A resource that exists but is hidden from the caller raises HiddenFromCaller (404),
    so writes cannot reach what reads may not see.
    """
    try:
        return await s.repo.read(
            resource_type, resource_id, interaction=interaction, deleted_ok=True
        )
    except FhirError as exc:
        if exc.status != 404:
            raise
    pk = await s.repo.hidden_pk(resource_type, resource_id)
    if pk is not None:
        raise HiddenFromCaller(resource_type, resource_id, pk)
    return None


class CrudHandlers:
    """The single-resource interactions over one session."""

    def __init__(self, writes: WriteChecks) -> None:
        self.writes = writes

    async def _prepare(
        self, s: Session, req: FhirRequest, resource_type: str, **kw: Any
    ) -> dict[str, Any]:
        return await self.writes.prepare(
            s.repo, req.body, resource_type, siblings=req.siblings, **kw
        )

    def _done(self, s: Session, stored: StoredResource | None) -> StoredResource | None:
        if stored is not None:
            s.touch([(stored.pk, stored.reference)])
        return stored

    async def create(self, s: Session, req: FhirRequest) -> Result:
        resource_type = _require_type(req)
        content = await self._prepare(s, req, resource_type)
        s.check_write(resource_type, "create", None, content)
        if req.if_none_exist:
            criteria = parse_criteria(req.if_none_exist, "If-None-Exist")
            match = await match_for_create(s, resource_type, criteria)
            if match is not None and not match.readable:
                return _points_to(resource_type, match.id)
            if match is not None:
                stored = await s.repo.read(resource_type, match.id)
                return Result(200, stored=self._done(s, stored), location=True)
        # resource_id is set only for transaction entries whose id was assigned up front.
        stored = await s.repo.create(content, resource_id=req.resource_id)
        s.check_scope_of(stored, "create")
        return Result(201, stored=self._done(s, stored), location=True)

    async def read(self, s: Session, req: FhirRequest) -> Result:
        resource_type, resource_id = _require_type(req), _id(req)
        stored = await visible_current(s, resource_type, resource_id)
        if stored is None or stored.deleted:
            stored = await s.repo.read(resource_type, resource_id)  # 404 or 410, as it is
        self._done(s, stored)
        if req.if_none_match and _matches_etag(req.if_none_match, stored):
            return Result(304, stored=stored)
        return Result(200, stored=stored)

    async def vread(self, s: Session, req: FhirRequest) -> Result:
        if req.version is None or not (req.version.isascii() and req.version.isdigit()):
            raise bad_request("The version id must be a positive integer", "_history")
        resource_type, resource_id = _require_type(req), _id(req)
        await visible_current(s, resource_type, resource_id, "vread")  # a refusal is audited
        stored = await s.repo.vread(resource_type, resource_id, int(req.version))
        return Result(200, stored=self._done(s, stored))

    async def update(self, s: Session, req: FhirRequest) -> Result:
        resource_type = _require_type(req)
        if req.resource_id is None:
            return await self._conditional_update(s, req, resource_type)
        content = await self._prepare(s, req, resource_type, url_id=req.resource_id)
        return await self._write(s, req, resource_type, req.resource_id, content, "update")

    async def _write(
        self,
        s: Session,
        req: FhirRequest,
        resource_type: str,
        resource_id: str,
        content: dict[str, Any],
        interaction: str,
        *,
        allow_create: bool = True,
        method: str = "PUT",
    ) -> Result:
        s.require_scope(resource_type, interaction)
        current = await visible_current(s, resource_type, resource_id, interaction)
        s.check_write(resource_type, interaction if current else "create", current, content)
        if current is not None:
            _check_scope_before(s, current, interaction)
        stored, created = await s.repo.update(
            content, resource_id, if_match=_if_match(req), method=method, allow_create=allow_create
        )
        s.check_scope_of(stored, "create" if created else interaction)
        return Result(201 if created else 200, stored=self._done(s, stored), location=created)

    async def _conditional_update(self, s: Session, req: FhirRequest, resource_type: str) -> Result:
        if not req.query:
            raise bad_request("PUT needs a resource id or search criteria")
        s.require_scope(resource_type, "update")
        content = await self._prepare(s, req, resource_type)
        match = await single_match(s, resource_type, list(req.query), "update")
        body_id = content.get("id")
        if match is None:
            if body_id is None:
                s.check_write(resource_type, "create", None, content)
                stored = await s.repo.create(content, method="PUT")
                s.check_scope_of(stored, "create")
                return Result(201, stored=self._done(s, stored), location=True)
            return await self._write(s, req, resource_type, body_id, content, "update")
        if body_id is not None and body_id != match.id:
            raise FhirError.of(
                400,
                "invalid",
                f"The resource id '{body_id}' differs from the matched {resource_type}/{match.id}",
                f"{resource_type}.id",
            )
        return await self._write(
            s,
            req,
            resource_type,
            match.id,
            {**content, "id": match.id},
            "update",
            allow_create=False,
        )

    async def patch(self, s: Session, req: FhirRequest) -> Result:
        """JSON Patch (RFC 6902); the result is validated like an update."""
        resource_type = _require_type(req)
        check_type_writable(resource_type)
        s.require_scope(resource_type, "patch")
        resource_id = await _target_id(s, req, resource_type, "patch")
        if resource_id is None:
            raise FhirError.of(404, "not-found", f"No {resource_type} matches the criteria")
        current = await visible_current(s, resource_type, resource_id, "patch")
        if current is None or current.deleted:
            current = await s.repo.read(resource_type, resource_id)  # 404 or 410
        if_match = _if_match(req)
        if if_match is not None and if_match != current.version_id:
            raise FhirError.of(
                412,
                "conflict",
                f"If-Match version {if_match} is stale: current is {current.version_id}",
            )
        patched = _apply_patch(current.content or {}, req.body)
        if patched.get("resourceType") != resource_type or patched.get("id") != resource_id:
            raise bad_request("A patch may not change resourceType or id", resource_type)
        content = await self.writes.prepare(s.repo, patched, resource_type, url_id=resource_id)
        s.check_write(resource_type, "patch", current, content)
        _check_scope_before(s, current, "patch")
        stored, _ = await s.repo.update(
            content, resource_id, if_match=current.version_id, method="PATCH", allow_create=False
        )
        s.check_scope_of(stored, "patch")
        return Result(200, stored=self._done(s, stored))

    async def delete(self, s: Session, req: FhirRequest) -> Result:
        resource_type = _require_type(req)
        check_type_writable(resource_type)
        s.require_scope(resource_type, "delete")
        resource_id = await _target_id(s, req, resource_type, "delete")
        if resource_id is None:
            return Result(204)  # nothing (visible) there: idempotent (R4 http.html#delete)
        current = await visible_current(s, resource_type, resource_id, "delete")
        if current is None or current.deleted:
            return Result(204)
        s.check_write(resource_type, "delete", current, current.content)
        _check_scope_before(s, current, "delete")
        stored = await s.repo.delete(resource_type, resource_id, if_match=_if_match(req))
        return Result(204, stored=self._done(s, stored))


def _check_scope_before(s: Session, current: StoredResource, interaction: str) -> None:
    """The version being changed must lie within the granular scope of the change too."""
    if not current.deleted:
        s.check_scope_of(current, interaction)


def _points_to(resource_type: str, resource_id: str) -> Result:
    """200 for a conditional create that matched a Patient the caller may reference but not
    read: Location names it, no content (docs/authorization.md, "Conditional interactions")."""
    body = operation_outcome(
        [
            information(
                f"A {resource_type} with this CPR number is already stored; its id is in "
                "Location. Its content needs a treatment relation."
            )
        ]
    )
    return Result(200, body=body, points_to=f"{resource_type}/{resource_id}")


def _matches_etag(header: str, stored: StoredResource) -> bool:
    return any(
        tag.strip() in (stored.etag, f'"{stored.version_id}"', "*") for tag in header.split(",")
    )


def _apply_patch(content: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise bad_request("A JSON Patch body must be an array of operations", "Patch")
    try:
        result = jsonpatch.JsonPatch(operations).apply(copy.deepcopy(content))
    except jsonpatch.JsonPatchTestFailed as exc:
        raise FhirError.of(422, "processing", f"JSON Patch test failed: {exc}") from None
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        TypeError,
        KeyError,
    ) as exc:
        raise FhirError.of(400, "invalid", f"Invalid JSON Patch: {exc}", "Patch") from None
    if not isinstance(result, dict):
        raise bad_request("The patched document is not a resource", "Patch")
    return result

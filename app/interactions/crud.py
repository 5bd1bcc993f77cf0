"""Instance and type interactions: create, read, vread, update, patch, delete (R4 http.html)."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qsl

import jsonpatch

from app.access.decision import AccessDenied
from app.access.rules import Rule
from app.fhir.outcome import FhirError, bad_request
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


def _criteria(query: str, header: str) -> list[tuple[str, str]]:
    criteria = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if not criteria:
        raise bad_request(f"{header} needs search criteria", header)
    return criteria


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


def _shares_identifier(content: dict[str, Any], criteria: list[tuple[str, str]]) -> bool:
    """The criteria matched by an `identifier=system|value` the new resource itself carries."""
    carried = {
        f"{i.get('system')}|{i.get('value')}"
        for i in content.get("identifier", [])
        if isinstance(i, dict)
    }
    return any(name == "identifier" and value in carried for name, value in criteria)


async def _single_match(
    s: Session, resource_type: str, criteria: list[tuple[str, str]]
) -> str | None:
    """The id of the one match, None for no match; 412 for several (R4 http.html#cond-update).

    Matching sees every resource, so a match the caller may not see is never duplicated;
    what the caller may then do with it is decided by visible_current or _claim.
    """
    await s.repo.lock_criteria(resource_type, criteria)
    matches = await s.repo.find(resource_type, criteria, limit=2, unfiltered=True)
    if len(matches) > 1:
        raise FhirError.of(
            412, "multiple-matches", f"The criteria match more than one {resource_type}"
        )
    return matches[0][1] if matches else None


async def _target_id(s: Session, req: FhirRequest, resource_type: str) -> str | None:
    """The id in the URL, or of the one resource the criteria match (None: no match)."""
    if req.resource_id is not None:
        return req.resource_id
    if not req.query:
        raise bad_request(f"{req.method} needs a resource id or search criteria")
    return await _single_match(s, resource_type, list(req.query))


async def visible_current(
    s: Session, resource_type: str, resource_id: str
) -> StoredResource | None:
    """The current version if the caller may see it; None if there is none at all.

    A resource that exists but is hidden from the caller raises HiddenFromCaller (404),
    so writes cannot reach what reads may not see.
    """
    try:
        return await s.repo.read(resource_type, resource_id)
    except FhirError as exc:
        if exc.status == 410:
            return None
        if exc.status != 404:
            raise
    pk = await s.repo.exists_anywhere(resource_type, resource_id)
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
            criteria = _criteria(req.if_none_exist, "If-None-Exist")
            await s.repo.lock_criteria(resource_type, criteria)
            existing_id = await _single_match(s, resource_type, criteria)
            if existing_id is not None:
                await self._claim(s, resource_type, existing_id, content, criteria)
                stored = await s.repo.read(resource_type, existing_id)
                return Result(200, stored=self._done(s, stored), location=True)
        # resource_id is set only for transaction entries whose id was assigned up front.
        stored = await s.repo.create(content, resource_id=req.resource_id)
        return Result(201, stored=self._done(s, stored), location=True)

    @staticmethod
    async def _claim(
        s: Session,
        resource_type: str,
        existing_id: str,
        content: dict[str, Any],
        criteria: list[tuple[str, str]],
    ) -> None:
        """May the caller have the resource its conditional create matched?

        Matching ignores visibility so that pushing a Patient by CPR never duplicates it:
        pushing data about that very patient is the act that establishes the treatment
        relation (sundhedsloven §42a), so it is recorded. Any other match the caller cannot
        see stays hidden (404, audited): criteria alone never open someone else's data.
        """
        if await s.repo.exists_visible(resource_type, existing_id):
            return
        pk = await s.repo.exists_anywhere(resource_type, existing_id)
        assert pk is not None
        if resource_type == "Patient" and _shares_identifier(content, criteria):
            await s.repo.relate(pk, resource_type)
            return
        raise HiddenFromCaller(resource_type, existing_id, pk)

    async def read(self, s: Session, req: FhirRequest) -> Result:
        resource_type, resource_id = _require_type(req), _id(req)
        stored = await visible_current(s, resource_type, resource_id)
        if stored is None:
            stored = await s.repo.read(resource_type, resource_id)  # 404 or 410, as it is
        self._done(s, stored)
        if req.if_none_match and _matches_etag(req.if_none_match, stored):
            return Result(304, stored=stored)
        return Result(200, stored=stored)

    async def vread(self, s: Session, req: FhirRequest) -> Result:
        if req.version is None or not req.version.isdigit():
            raise bad_request("The version id must be a positive integer", "_history")
        stored = await s.repo.vread(_require_type(req), _id(req), int(req.version))
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
        current = await visible_current(s, resource_type, resource_id)
        s.check_write(
            resource_type,
            interaction if current else "create",
            current.content if current else None,
            content,
        )
        stored, created = await s.repo.update(
            content, resource_id, if_match=_if_match(req), method=method, allow_create=allow_create
        )
        return Result(201 if created else 200, stored=self._done(s, stored), location=created)

    async def _conditional_update(self, s: Session, req: FhirRequest, resource_type: str) -> Result:
        if not req.query:
            raise bad_request("PUT needs a resource id or search criteria")
        content = await self._prepare(s, req, resource_type)
        match_id = await _single_match(s, resource_type, list(req.query))
        body_id = content.get("id")
        if match_id is None:
            if body_id is None:
                s.check_write(resource_type, "create", None, content)
                stored = await s.repo.create(content, method="PUT")
                return Result(201, stored=self._done(s, stored), location=True)
            return await self._write(s, req, resource_type, body_id, content, "update")
        if body_id is not None and body_id != match_id:
            raise FhirError.of(
                400,
                "invalid",
                f"The resource id '{body_id}' differs from the matched {resource_type}/{match_id}",
                f"{resource_type}.id",
            )
        return await self._write(
            s,
            req,
            resource_type,
            match_id,
            {**content, "id": match_id},
            "update",
            allow_create=False,
        )

    async def patch(self, s: Session, req: FhirRequest) -> Result:
        """JSON Patch (RFC 6902); the result is validated like an update."""
        resource_type = _require_type(req)
        check_type_writable(resource_type)
        resource_id = await _target_id(s, req, resource_type)
        if resource_id is None:
            raise FhirError.of(404, "not-found", f"No {resource_type} matches the criteria")
        current = await visible_current(s, resource_type, resource_id)
        if current is None:
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
        s.check_write(resource_type, "patch", current.content, content)
        stored, _ = await s.repo.update(
            content, resource_id, if_match=current.version_id, method="PATCH", allow_create=False
        )
        return Result(200, stored=self._done(s, stored))

    async def delete(self, s: Session, req: FhirRequest) -> Result:
        resource_type = _require_type(req)
        check_type_writable(resource_type)
        resource_id = await _target_id(s, req, resource_type)
        if resource_id is None:
            return Result(204)
        current = await visible_current(s, resource_type, resource_id)
        if current is None:
            if not s.policy.principal or s.policy.principal.scopes.allows(resource_type, "delete"):
                return Result(204)  # nothing there: deleting is idempotent (R4 http.html#delete)
            raise AccessDenied(Rule.SCOPE, f"No scope grants delete on {resource_type}")
        s.check_write(resource_type, "delete", current.content, current.content)
        stored = await s.repo.delete(resource_type, resource_id, if_match=_if_match(req))
        return Result(204, stored=self._done(s, stored))


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

"""Instance and type interactions: create, read, vread, update, patch, delete (R4 http.html)."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qsl

import jsonpatch

from app.fhir.outcome import FhirError, bad_request
from app.interactions.context import RequestContext
from app.interactions.request import FhirRequest, version_from_etag
from app.interactions.result import Result
from app.interactions.writes import ProfileValidator, check_type_writable, prepare_content
from app.storage.records import StoredResource
from app.storage.repository import Repository


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


async def _single_match(
    repo: Repository, resource_type: str, criteria: list[tuple[str, str]]
) -> str | None:
    """The id of the one match, None for no match; 412 for several (R4 http.html#cond-update)."""
    await repo.lock_criteria(resource_type, criteria)
    matches = await repo.find(resource_type, criteria, limit=2)
    if len(matches) > 1:
        raise FhirError.of(
            412, "multiple-matches", f"The criteria match more than one {resource_type}"
        )
    return matches[0][1] if matches else None


class CrudHandlers:
    """The single-resource interactions over one repository."""

    def __init__(self, profiles: ProfileValidator | None) -> None:
        self.profiles = profiles

    async def create(self, repo: Repository, ctx: RequestContext, req: FhirRequest) -> Result:
        resource_type = _require_type(req)
        content = prepare_content(req.body, resource_type, self.profiles)
        if req.if_none_exist:
            existing_id = await _single_match(
                repo, resource_type, _criteria(req.if_none_exist, "If-None-Exist")
            )
            if existing_id is not None:
                # R4 http.html#ccreate: one match → the existing resource, 200, nothing stored.
                return Result(
                    200, stored=await repo.read(resource_type, existing_id), location=True
                )
        # resource_id is set only for transaction entries whose id was assigned up front.
        stored = await repo.create(content, resource_id=req.resource_id)
        return Result(201, stored=stored, location=True)

    async def read(self, repo: Repository, ctx: RequestContext, req: FhirRequest) -> Result:
        stored = await repo.read(_require_type(req), _id(req))
        if req.if_none_match and _matches_etag(req.if_none_match, stored):
            return Result(304, stored=stored)
        return Result(200, stored=stored)

    async def vread(self, repo: Repository, ctx: RequestContext, req: FhirRequest) -> Result:
        if req.version is None or not req.version.isdigit():
            raise bad_request("The version id must be a positive integer", "_history")
        stored = await repo.vread(_require_type(req), _id(req), int(req.version))
        return Result(200, stored=stored)

    async def update(self, repo: Repository, ctx: RequestContext, req: FhirRequest) -> Result:
        resource_type = _require_type(req)
        if req.resource_id is None:
            return await self._conditional_update(repo, req, resource_type)
        content = prepare_content(req.body, resource_type, self.profiles, url_id=req.resource_id)
        stored, created = await repo.update(content, req.resource_id, if_match=_if_match(req))
        return Result(201 if created else 200, stored=stored, location=created)

    async def _conditional_update(
        self, repo: Repository, req: FhirRequest, resource_type: str
    ) -> Result:
        if not req.query:
            raise bad_request("PUT needs a resource id or search criteria")
        content = prepare_content(req.body, resource_type, self.profiles)
        match_id = await _single_match(repo, resource_type, list(req.query))
        body_id = content.get("id")
        if match_id is None:
            if body_id is None:
                return Result(201, stored=await repo.create(content, method="PUT"), location=True)
            stored, created = await repo.update(content, body_id, if_match=_if_match(req))
            return Result(201 if created else 200, stored=stored, location=created)
        if body_id is not None and body_id != match_id:
            raise FhirError.of(
                400,
                "invalid",
                f"The resource id '{body_id}' differs from the matched {resource_type}/{match_id}",
                f"{resource_type}.id",
            )
        stored, _ = await repo.update(
            {**content, "id": match_id}, match_id, if_match=_if_match(req), allow_create=False
        )
        return Result(200, stored=stored)

    async def patch(self, repo: Repository, ctx: RequestContext, req: FhirRequest) -> Result:
        """JSON Patch (RFC 6902); the result is validated like an update."""
        resource_type = _require_type(req)
        check_type_writable(resource_type)
        resource_id = req.resource_id
        if resource_id is None:
            if not req.query:
                raise bad_request("PATCH needs a resource id or search criteria")
            resource_id = await _single_match(repo, resource_type, list(req.query))
            if resource_id is None:
                raise FhirError.of(404, "not-found", f"No {resource_type} matches the criteria")
        current = await repo.read(resource_type, resource_id)
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
        content = prepare_content(patched, resource_type, self.profiles, url_id=resource_id)
        stored, _ = await repo.update(
            content, resource_id, if_match=current.version_id, method="PATCH", allow_create=False
        )
        return Result(200, stored=stored)

    async def delete(self, repo: Repository, ctx: RequestContext, req: FhirRequest) -> Result:
        resource_type = _require_type(req)
        check_type_writable(resource_type)
        if req.resource_id is None:
            if not req.query:
                raise bad_request("DELETE needs a resource id or search criteria")
            match_id = await _single_match(repo, resource_type, list(req.query))
            if match_id is None:
                return Result(204)
            stored = await repo.delete(resource_type, match_id, if_match=_if_match(req))
        else:
            stored = await repo.delete(resource_type, req.resource_id, if_match=_if_match(req))
        return Result(204, stored=stored)


def _id(req: FhirRequest) -> str:
    if req.resource_id is None:
        raise bad_request("A resource id is required")
    return req.resource_id


def _matches_etag(header: str, stored: StoredResource) -> bool:
    return any(
        tag.strip() in (stored.etag, f'"{stored.version_id}"', "*") for tag in header.split(",")
    )


def _apply_patch(content: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise bad_request("A JSON Patch body must be an array of operations", "Patch")
    try:
        patch = jsonpatch.JsonPatch(operations)
        result = patch.apply(copy.deepcopy(content))
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

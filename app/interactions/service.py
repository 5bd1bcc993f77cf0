"""FhirService: routes one FhirRequest to its interaction inside a unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.fhir.bundle import response_entry
from app.fhir.outcome import FhirError, bad_request, information, operation_outcome
from app.fhir.resource_types import Interaction, spec_for
from app.interactions import bundles, history
from app.interactions.conformance import ConformanceResources
from app.interactions.context import RequestContext
from app.interactions.crud import CrudHandlers
from app.interactions.request import FhirRequest
from app.interactions.result import Result
from app.interactions.search import search
from app.interactions.writes import ProfileValidator
from app.storage.records import SecurityPredicate, allow_all
from app.storage.repository import Repository
from app.storage.unit_of_work import Storage

Handler = Callable[[Repository, RequestContext, FhirRequest], Awaitable[Result]]


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    default_count: int = 50
    max_count: int = 1000
    max_includes: int = 1000
    max_bundle_entries: int = 5000


class FhirService:
    """The FHIR RESTful API as plain async calls (no HTTP in here)."""

    def __init__(
        self,
        storage: Storage,
        *,
        cursor_key: bytes,
        profiles: ProfileValidator | None = None,
        conformance: ConformanceResources | None = None,
        limits: ServiceLimits | None = None,
    ) -> None:
        self.storage = storage
        self.conformance = conformance or ConformanceResources(())
        self.cursor_key = cursor_key
        self.profiles = profiles
        self.limits = limits or ServiceLimits()
        self.crud = CrudHandlers(profiles)

    @property
    def base_url(self) -> str:
        return self.storage.base_url

    def security_for(self, ctx: RequestContext, req: FhirRequest) -> SecurityPredicate:
        """The row filter for this caller (the authorization layer plugs in here)."""
        return allow_all

    async def execute(self, ctx: RequestContext, req: FhirRequest) -> Result:
        """Run one request in its own unit of work."""
        if req.method == "POST" and req.resource_type is None and req.operation is None:
            return await self._bundle(ctx, req)
        spec = spec_for(req.resource_type or "")
        if spec is not None and spec.conformance:
            return self._conformance(req)
        handler, interaction = self._route(req)
        write = interaction in _WRITES
        async with self.storage.unit_of_work(
            write=write, security=self.security_for(ctx, req)
        ) as repo:
            return await handler(repo, ctx, req)

    async def handle(self, repo: Repository, ctx: RequestContext, req: FhirRequest) -> Result:
        """Run one request inside an existing unit of work (transaction entries)."""
        spec = spec_for(req.resource_type or "")
        if spec is not None and spec.conformance:
            return self._conformance(req)
        handler, _interaction = self._route(req)
        return await handler(repo, ctx, req)

    # -- routing ---------------------------------------------------------------

    def _route(self, req: FhirRequest) -> tuple[Handler, Interaction]:
        method, op = req.method, req.operation
        if req.resource_type is None:
            if method in ("GET", "HEAD") and op == "_history":
                return self._history, Interaction.HISTORY_TYPE
            if method in ("GET", "HEAD") and op is None:
                return self._search, Interaction.SEARCH_TYPE
            raise FhirError.of(404, "not-supported", "Unsupported system-level request")
        spec = spec_for(req.resource_type)
        if spec is None:
            raise FhirError.of(
                404, "not-supported", f"Resource type '{req.resource_type}' is not supported"
            )
        handler, interaction = self._route_typed(req, method, op)
        if not spec.supports(interaction):
            raise FhirError.of(
                405,
                "not-supported",
                f"{interaction.value} is not supported for {req.resource_type}",
            )
        return handler, interaction

    def _route_typed(
        self, req: FhirRequest, method: str, op: str | None
    ) -> tuple[Handler, Interaction]:
        has_id = req.resource_id is not None
        if method in ("GET", "HEAD"):
            if op == "_history":
                if not has_id:
                    return self._history, Interaction.HISTORY_TYPE
                if req.version is None:
                    return self._history, Interaction.HISTORY_INSTANCE
                return self.crud.vread, Interaction.VREAD
            if op is None:
                return (
                    (self.crud.read, Interaction.READ)
                    if has_id
                    else (self._search, Interaction.SEARCH_TYPE)
                )
        elif method == "POST":
            if op == "_search" and not has_id:
                return self._search, Interaction.SEARCH_TYPE
            if op is None:
                # An id here comes only from a transaction entry whose id was assigned up front.
                return self.crud.create, Interaction.CREATE
        elif method == "PUT" and op is None:
            return self.crud.update, Interaction.UPDATE
        elif method == "PATCH" and op is None:
            return self.crud.patch, Interaction.PATCH
        elif method == "DELETE" and op is None:
            return self.crud.delete, Interaction.DELETE
        raise FhirError.of(405, "not-supported", f"{method} is not supported on this URL")

    # -- interactions that need service-wide settings ---------------------------

    def _conformance(self, req: FhirRequest) -> Result:
        if req.method not in ("GET", "HEAD") and not (
            req.method == "POST" and req.operation == "_search"
        ):
            raise FhirError.of(405, "not-supported", f"{req.resource_type} is read-only")
        if req.resource_id is not None and req.operation is None:
            return self.conformance.read(req)
        if req.resource_id is None and req.operation in (None, "_search"):
            return self.conformance.search(req, self.base_url)
        raise FhirError.of(405, "not-supported", f"Unsupported request on {req.resource_type}")

    async def _history(self, repo: Repository, ctx: RequestContext, req: FhirRequest) -> Result:
        if (
            req.resource_type
            and req.resource_id
            and await repo.current_head(req.resource_type, req.resource_id) is None
        ):
                raise FhirError.of(
                    404, "not-found", f"{req.resource_type}/{req.resource_id} is not known"
                )
        return await history.history(
            repo,
            req,
            cursor_key=self.cursor_key,
            default_count=self.limits.default_count,
            max_count=self.limits.max_count,
        )

    async def _search(self, repo: Repository, ctx: RequestContext, req: FhirRequest) -> Result:
        return await search(repo, req, self)

    async def _bundle(self, ctx: RequestContext, req: FhirRequest) -> Result:
        body = req.body
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            raise bad_request("POST to the base URL takes a batch or transaction Bundle", "Bundle")
        kind = body.get("type")
        entries = body.get("entry") or []
        if not isinstance(entries, list):
            raise bad_request("Bundle.entry must be an array", "Bundle.entry")
        if len(entries) > self.limits.max_bundle_entries:
            raise FhirError.of(
                413, "too-costly", f"At most {self.limits.max_bundle_entries} entries per Bundle"
            )
        if kind == "transaction":
            async with self.storage.unit_of_work(
                write=True, security=self.security_for(ctx, req)
            ) as repo:
                response = await bundles.run_transaction(
                    repo, ctx, body, req, self.handle, self.render_entry
                )
            return Result(200, body=response)
        if kind == "batch":
            response = await bundles.run_batch(
                ctx, body, req, self.base_url, self.execute, self.render_entry
            )
            return Result(200, body=response)
        raise bad_request("Bundle.type must be 'batch' or 'transaction'", "Bundle.type")

    # -- rendering ----------------------------------------------------------------

    def body_for(self, result: Result, req: FhirRequest) -> dict[str, Any] | None:
        """The response body honouring `Prefer: return=` (R4 http.html#ops)."""
        if result.body is not None:
            return result.body
        if result.stored is None or result.status == 304:
            return None
        if req.prefer_return == "minimal":
            return None
        if req.prefer_return == "OperationOutcome":
            return operation_outcome(
                [information(f"{req.method} {result.stored.reference} succeeded")]
            )
        return result.stored.content

    def location(self, result: Result) -> str | None:
        stored = result.stored
        if not result.location or stored is None:
            return None
        return f"{self.base_url}/{stored.reference}/_history/{stored.version_id}"

    def render_entry(self, result: Result, req: FhirRequest) -> dict[str, Any]:
        stored = result.stored
        return response_entry(
            result.status,
            resource=self.body_for(result, req) if req.method != "DELETE" else None,
            full_url=f"{self.base_url}/{stored.reference}" if stored else None,
            location=self.location(result),
            etag=stored.etag if stored else None,
            last_modified=stored.last_updated if stored else None,
        )


_WRITES = {Interaction.CREATE, Interaction.UPDATE, Interaction.PATCH, Interaction.DELETE}

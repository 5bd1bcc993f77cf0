"""FhirService: routes one FhirRequest to its interaction inside a unit of work.

Every request runs in one Session: the unit of work, the caller's AccessPolicy
(compiled into the repository's security predicate) and the audit trail that is
written in the same transaction before it commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from app.access.authorities import Authorities
from app.access.decision import AccessDenied
from app.access.policy import AccessPolicy
from app.audit.recorder import AUDIT_WRITER, Access, AccessLog, AuditTrail
from app.fhir.operations import READ_INTERACTIONS
from app.fhir.outcome import FhirError, bad_request, operation_outcome
from app.fhir.resource_types import spec_for
from app.fhir.subscription import EndpointPolicy
from app.interactions import bundles, history
from app.interactions.access_setup import (
    ChildAccessDenied,
    ExternalRegistries,
    build_policy,
    effective_principal,
)
from app.interactions.conformance import ConformanceResources
from app.interactions.context import RequestContext
from app.interactions.crud import CrudHandlers, HiddenFromCaller, visible_current
from app.interactions.everything import everything
from app.interactions.operations import Handler, Standalone, check_bindings, operation_for
from app.interactions.outcomes import rehabilitation_outcomes
from app.interactions.request import FhirRequest
from app.interactions.result import Result
from app.interactions.search import search
from app.interactions.session import Session
from app.interactions.writes import ProfileValidator, WriteChecks
from app.storage.access_facts import AccessFacts
from app.storage.repository import SearchLimits
from app.storage.unit_of_work import Storage

# Reads whose statements (policy facts, the version, a refusal's pk) need no transaction
# block: on PostgreSQL they run in autocommit (Storage.unit_of_work, `transaction`).
# Searches stay in a transaction: they set planner options with SET LOCAL.
_SINGLE_STATEMENT_READS = frozenset({"read", "vread"})


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    search: SearchLimits = field(default_factory=SearchLimits)
    max_bundle_entries: int = 5000


def _check_read(s: Session, resource_type: str | None, interaction: str) -> None:
    """403 when no scope lets the caller read `resource_type` this way (an empty result
    would hide the refusal); records the granting rule for the audit."""
    if resource_type is None or interaction not in READ_INTERACTIONS:
        return
    row_filter = s.policy.read_filter(resource_type, interaction)
    if row_filter.deny_all:
        raise AccessDenied(row_filter.rule, f"Reading {resource_type} is not permitted")
    s.rule = row_filter.rule.value


def _forbidden(exc: AccessDenied) -> FhirError:
    return FhirError.of(403, "forbidden", exc.message, rule=exc.rule.value)


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
        registries: ExternalRegistries | None = None,
        authorities: Authorities | None = None,
        endpoints: EndpointPolicy | None = None,
        on_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.storage = storage
        self.cursor_key = cursor_key
        self.conformance = conformance or ConformanceResources(())
        self.limits = limits or ServiceLimits()
        self.writes = WriteChecks(profiles, endpoints, base_url=storage.base_url)
        # Work after every committed write (wakes the subscription worker).
        self.on_commit = on_commit
        self.crud = CrudHandlers(self.writes)
        self.audit = AuditTrail()
        self.access_log = AccessLog(storage, self.audit)
        self.registries = registries or ExternalRegistries()
        self.authorities = authorities or Authorities()
        # The handler of every operation in app/fhir/operations.py, by operation name.
        self.handlers: dict[str, Handler] = {
            "search-system": self._search,
            "history-system": self._history,
            "search": self._search,
            "search-post": self._search,
            "create": self.crud.create,
            "conditional-update": self.crud.update,
            "conditional-patch": self.crud.patch,
            "conditional-delete": self.crud.delete,
            "validate": self._validate,
            "history-type": self._history,
            "read": self.crud.read,
            "update": self.crud.update,
            "patch": self.crud.patch,
            "delete": self.crud.delete,
            "history-instance": self._history,
            "vread": self.crud.vread,
            "everything": self._everything,
            "everything-post": self._everything,
            "rehabilitation-outcomes": rehabilitation_outcomes,
            "rehabilitation-outcomes-post": rehabilitation_outcomes,
        }
        # Operations that open their own units of work.
        self.standalone: dict[str, Standalone] = {"transaction": self._bundle}
        check_bindings({**self.handlers, **self.standalone})

    @property
    def base_url(self) -> str:
        return self.storage.base_url

    # -- the unit of work of one request ------------------------------------------

    @asynccontextmanager
    async def session(
        self, ctx: RequestContext, interaction: str, req: FhirRequest, *, write: bool
    ) -> AsyncIterator[Session]:
        """A Session whose repository sees only what the caller may see; audited on success.

        The repository is built with the caller's policy (there is no other way to get
        one). A write is audited in its own transaction; a read-only request's events are
        group-committed after its (read-only) transaction, before it answers.
        """

        async def policy_for(facts: AccessFacts) -> AccessPolicy:
            return await build_policy(facts, ctx, req, self.registries, self.authorities)

        transaction = write or interaction not in _SINGLE_STATEMENT_READS
        async with self.storage.unit_of_work(
            policy_for, write=write, transaction=transaction
        ) as repo:
            session = Session(repo, ctx)
            _check_read(session, req.resource_type, interaction)
            if write and self.on_commit is not None:
                repo.after_commit(self.on_commit)
            yield session
            if write:
                await self.audit.record_provenance(repo)
            access = Access(
                repo.policy.principal,
                interaction,
                session.rule or "",
                session.touched,
                ctx.request_id,
                session.query,
                session.aggregate_purpose,
            )
            audited = bool(session.touched) or session.aggregate_purpose is not None
            if audited and write:
                await self.audit.record_accesses(repo, [access])
        if audited and not write:
            await self.access_log.commit(access)

    async def _refused(self, ctx: RequestContext, interaction: str, exc: Exception) -> None:
        """Audit a refusal in its own transaction (the request's own one rolled back)."""
        async with self.storage.unit_of_work(AUDIT_WRITER, write=True) as repo:
            if isinstance(exc, HiddenFromCaller):
                patients = (await repo.compartments([exc.pk])).get(exc.pk, set())
                rule, message = (
                    "not-visible-to-caller",
                    "Refused: not visible to the caller (no relation, not shared, or opted out)",
                )
            elif isinstance(exc, AccessDenied):
                patients = set(exc.patient_ids) if isinstance(exc, ChildAccessDenied) else set()
                rule, message = exc.rule.value, exc.message
            else:
                return
            try:
                principal = effective_principal(ctx)
            except (AccessDenied, FhirError):
                principal = ctx.principal
            await self.audit.record_outcome(
                repo,
                principal,
                interaction=interaction,
                outcome="4",
                rule=rule,
                message=message,
                patients=patients,
                request_id=ctx.request_id,
            )

    # -- entry points -------------------------------------------------------------

    async def execute(self, ctx: RequestContext, req: FhirRequest) -> Result:
        """Run one request in its own unit of work."""
        spec = spec_for(req.resource_type or "")
        if spec is not None and spec.conformance:
            return self._conformance(req)
        op = operation_for(req)
        if not op.in_session:
            return await self.standalone[op.name](ctx, req)
        try:
            async with self.session(ctx, op.interaction, req, write=op.write) as s:
                return await self.handlers[op.name](s, req)
        except (AccessDenied, HiddenFromCaller) as exc:
            await self._refused(ctx, op.interaction, exc)
            if isinstance(exc, AccessDenied):
                raise _forbidden(exc) from None
            raise

    async def handle(self, s: Session, req: FhirRequest) -> Result:
        """Run one request inside an existing session (transaction entries).

        Each entry is its own interaction: its scope is checked as if it came alone.
        """
        spec = spec_for(req.resource_type or "")
        if spec is not None and spec.conformance:
            return self._conformance(req)
        op = operation_for(req)
        if not op.in_session:
            raise FhirError.of(
                404, "not-supported", f"A Bundle entry cannot be a {op.name} ({op.path() or '/'})"
            )
        _check_read(s, req.resource_type, op.interaction)
        return await self.handlers[op.name](s, req)

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

    async def _history(self, s: Session, req: FhirRequest) -> Result:
        if req.resource_type and req.resource_id:
            await visible_current(s, req.resource_type, req.resource_id, "history-instance")
            if await s.repo.current_head(req.resource_type, req.resource_id) is None:
                raise FhirError.of(
                    404, "not-found", f"{req.resource_type}/{req.resource_id} is not known"
                )
        return await history.history(
            s,
            req,
            cursor_key=self.cursor_key,
            default_count=self.limits.search.default_count,
            max_count=self.limits.search.max_count,
        )

    async def _validate(self, s: Session, req: FhirRequest) -> Result:
        """POST [type]/$validate: 200 with an OperationOutcome, valid or not (R4 $validate)."""
        body, profile = req.body, req.param("profile")
        if isinstance(body, dict) and body.get("resourceType") == "Parameters":
            params = {p.get("name"): p for p in body.get("parameter", []) if isinstance(p, dict)}
            body = params.get("resource", {}).get("resource")
            profile = params.get("profile", {}).get("valueUri") or profile
            if body is None:
                raise bad_request("Parameters needs a 'resource' parameter", "Parameters.parameter")
        issues = await self.writes.validate(s.repo, body, req.resource_type or "", profile)
        return Result(200, body=operation_outcome(issues))

    async def _everything(self, s: Session, req: FhirRequest) -> Result:
        return await everything(s, req, self.limits.search, self.cursor_key)

    async def _search(self, s: Session, req: FhirRequest) -> Result:
        s.query = urlencode(req.query) or None
        return await search(s, req, self.limits.search, self.cursor_key)

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
        bundles.check_unique_full_urls(entries)
        if kind == "transaction":
            try:
                async with self.session(ctx, "transaction", req, write=True) as s:
                    response = await bundles.run_transaction(s, body, req, self.handle)
            except (AccessDenied, HiddenFromCaller) as exc:
                await self._refused(ctx, "transaction", exc)
                if isinstance(exc, AccessDenied):
                    raise _forbidden(exc) from None
                raise
            return Result(200, body=response)
        if kind == "batch":
            response = await bundles.run_batch(ctx, body, req, self.base_url, self.execute)
            return Result(200, body=response)
        raise bad_request("Bundle.type must be 'batch' or 'transaction'", "Bundle.type")

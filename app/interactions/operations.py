"""Which operation of the table (app/fhir/operations.py) a FhirRequest asks for, and the
shape of the handlers bound to them (FhirService.handlers)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from app.fhir.operations import OPERATIONS, Level, Operation, find
from app.fhir.outcome import FhirError, not_found
from app.fhir.primitives import parse_version_id
from app.fhir.resource_types import spec_for
from app.interactions.context import RequestContext
from app.interactions.request import FhirRequest, check_request_text
from app.interactions.result import Result
from app.interactions.session import Session

# Runs inside the caller's Session (one transaction, the caller's policy).
Handler = Callable[[Session, FhirRequest], Awaitable[Result]]
# Opens its own units of work (batch and transaction Bundles).
Standalone = Callable[[RequestContext, FhirRequest], Awaitable[Result]]


def _level(req: FhirRequest) -> Level:
    if req.resource_type is None:
        return "system"
    # A POST carries an id only as a transaction entry whose id was assigned up front:
    # it is still a create at the type level.
    if req.resource_id is None or (req.method == "POST" and req.operation is None):
        return "type"
    return "instance"


def operation_for(req: FhirRequest) -> Operation:
    """The operation `req` asks for; 404 for an unknown type or system URL, 405 for a
    method or operation the URL (or its type) does not take."""
    check_request_text(req)
    level = _level(req)
    op = find(level, req.method, req.operation, req.version is not None)
    if level == "system":
        if op is None:
            raise FhirError.of(404, "not-supported", "Unsupported system-level request")
        return op
    spec = spec_for(req.resource_type or "")
    if spec is None:
        raise FhirError.of(
            404, "not-supported", f"Resource type '{req.resource_type}' is not supported"
        )
    if op is None:
        raise FhirError.of(405, "not-supported", f"{req.method} is not supported on this URL")
    if req.version is not None and parse_version_id(req.version) is None:
        raise not_found(
            f"{req.resource_type}/{req.resource_id}/_history/{req.version} is not known"
        )
    if not op.offered_by(spec):
        what = op.requires.value if op.requires is not None else op.name
        raise FhirError.of(405, "not-supported", f"{what} is not supported for {spec.name}")
    return op


def check_bindings(handlers: Mapping[str, object]) -> None:
    """Every operation of the table has exactly one handler, and no handler is stray."""
    names = {op.name for op in OPERATIONS if not op.api_route}
    missing, stray = names - handlers.keys(), handlers.keys() - names
    if missing or stray:
        raise RuntimeError(f"Operations without handler: {missing}; handlers without: {stray}")

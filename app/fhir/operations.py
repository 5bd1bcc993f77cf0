"""Every FHIR operation this server answers, in one table (R4 http.html, operations.html).

One `Operation` per URL shape and method. The table feeds the routes (`api/fhir_routes.py`),
the request router (`interactions/operations.py`, which also binds each operation to its
handler), the SMART permission letters (`access/scopes.py`), the AuditEvent action
(`audit/events.py`), the CapabilityStatement (`capability.py`) and the OpenAPI document
(`api/openapi_schemas.py`), so none of them can drift from what the server does.
How to add one: docs/architecture.md, "Adding an operation".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

from app.fhir.profiles.canonical import CANONICAL_BASE
from app.fhir.resource_types import REGISTRY, Interaction, ResourceTypeSpec

Level = Literal["system", "type", "instance"]
# SMART v2 permission letters (scopes-and-launch-context.html), in `cruds` order.
Permission = Literal["c", "r", "u", "d", "s"]
# AuditEvent.action (R4 valueset-audit-event-action).
AuditAction = Literal["C", "R", "U", "D", "E"]
# What the request and response bodies are, for the OpenAPI document.
Body = Literal["resource", "patch", "form", "bundle", "parameters", "none"]
Answer = Literal["resource", "bundle", "outcome", "parameters", "none"]

RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"

# Statuses every authenticated /fhir operation can answer before its handler runs:
# bad parameters (400), no or bad token (401), refused (403), an Accept or _format that is
# not FHIR JSON (406), rate-limited failed authentication (429).
COMMON_STATUSES = frozenset({400, 401, 403, 406, 429})
# ... and those every operation with a request body can answer (413 body or array limits,
# 415 media type).
BODY_STATUSES = frozenset({413, 415})


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: where it lives, who may call it, what it answers."""

    # Stable key: names the handler binding and the route (`CarePlan-read-get`).
    name: str
    level: Level
    method: str  # HEAD follows GET (api/methods.py)
    # The path segment after the level's base: None, "_history", "_search", "$validate".
    segment: str | None
    # The restful-interaction code (or operation name) the scopes and the audit know it by.
    interaction: str
    # The SMART letter checked for it; None when each part is checked on its own (Bundles).
    permission: Permission | None
    action: AuditAction
    # What a resource type must support to offer it (ResourceTypeSpec.interactions).
    requires: Interaction | None = None
    # Only these resource types (None: every type that supports `requires`).
    types: frozenset[str] | None = None
    # The path ends in a version id (`_history/{vid}`).
    versioned: bool = False
    # Writes run in a read-write transaction and are audited in it.
    write: bool = False
    # False: the handler opens its own units of work (batch/transaction Bundles).
    in_session: bool = True
    # Served by its own route in app/api (the Bulk Data kick-off and its async request
    # pattern: api/export_routes.py); the table only advertises it (CapabilityStatement).
    api_route: bool = False
    # CapabilityStatement: the codes advertised in rest.interaction (system level), and
    # the OperationDefinition of a `$` operation (rest.operation / rest.resource.operation).
    capability: tuple[str, ...] = ()
    definition: str | None = None
    # OpenAPI: `{t}` is replaced by the resource type.
    summary: str = ""
    body: Body = "none"
    answer: Answer = "resource"
    # Statuses the operation answers besides COMMON_STATUSES (and BODY_STATUSES with a body).
    statuses: frozenset[int] = frozenset({200})
    # Response headers on success (200/201), e.g. ETag, Location.
    headers: tuple[str, ...] = ()

    @property
    def has_body(self) -> bool:
        return self.body != "none"

    def all_statuses(self) -> frozenset[int]:
        return self.statuses | COMMON_STATUSES | (BODY_STATUSES if self.has_body else frozenset())

    def offered_by(self, spec: ResourceTypeSpec) -> bool:
        """True if `spec`'s type offers this operation (type and instance level)."""
        if self.types is not None and spec.name not in self.types:
            return False
        return self.requires is None or spec.supports(self.requires)

    def path(self, resource_type: str | None = None) -> str:
        """The route under /fhir, e.g. `/CarePlan/{id}/_history/{vid}`."""
        parts = [] if self.level == "system" else [resource_type or "{type}"]
        if self.level == "instance":
            parts.append("{id}")
        if self.segment is not None:
            parts.append(self.segment)
        if self.versioned:
            parts.append("{vid}")
        return "".join(f"/{p}" for p in parts)

    @property
    def key(self) -> tuple[Level, str, str | None, bool]:
        return (self.level, self.method, self.segment, self.versioned)


_VERSION_HEADERS = ("ETag", "Last-Modified")
_CREATED_HEADERS = (*_VERSION_HEADERS, "Location", "Content-Location")


# The instance-level writes; their conditional forms differ only in level (R4
# http.html#cond-update, #cdelete).
_UPDATE = Operation(
    "update",
    "instance",
    "PUT",
    None,
    "update",
    "u",
    "U",
    requires=Interaction.UPDATE,
    write=True,
    summary="Update a {t} (update-as-create with a client id is allowed)",
    body="resource",
    statuses=frozenset({200, 201, 404, 409, 412, 422}),
    headers=_CREATED_HEADERS,
)

_PATCH = Operation(
    "patch",
    "instance",
    "PATCH",
    None,
    "patch",
    "u",
    "U",
    requires=Interaction.PATCH,
    write=True,
    summary="JSON-Patch a {t}",
    body="patch",
    statuses=frozenset({200, 404, 409, 410, 412, 422}),
    headers=_VERSION_HEADERS,
)

_DELETE = Operation(
    "delete",
    "instance",
    "DELETE",
    None,
    "delete",
    "d",
    "D",
    requires=Interaction.DELETE,
    write=True,
    summary="Delete a {t} (logical; history keeps it)",
    answer="none",
    statuses=frozenset({204, 404, 409, 412}),
)

# Operations answered to GET and, with a Parameters body, to POST (R4 operations.html).
_GET_AND_POST: tuple[tuple[str, str, Body], ...] = (
    ("GET", "", "none"),
    ("POST", "-post", "parameters"),
)
_EXPORT_LEVELS: tuple[tuple[Level, str], ...] = (("system", "export"), ("type", "patient-export"))

OPERATIONS: tuple[Operation, ...] = (
    # -- system level (R4 http.html#transaction, #history, #search) ------------------
    Operation(
        "transaction",
        "system",
        "POST",
        None,
        "transaction",
        None,
        "E",
        in_session=False,
        capability=("transaction", "batch"),
        summary="Process a batch or transaction Bundle",
        body="bundle",
        answer="bundle",
        statuses=frozenset({200, 404, 409, 412, 422}),
    ),
    Operation(
        "search-system",
        "system",
        "GET",
        None,
        "search-system",
        "s",
        "E",
        capability=("search-system",),
        summary="Search several types (_type) at once",
        answer="bundle",
    ),
    Operation(
        "history-system",
        "system",
        "GET",
        "_history",
        "history-system",
        "s",
        "R",
        capability=("history-system",),
        summary="History of all resources",
        answer="bundle",
    ),
    *(
        Operation(
            f"rehabilitation-outcomes{suffix}",
            "system",
            method,
            "$rehabilitation-outcomes",
            # Counts only; the grant (a municipality with an unrestricted CarePlan search
            # scope) is decided in Repository.rehabilitation_outcomes, not by a letter here.
            "operation",
            None,
            "E",
            definition=f"{CANONICAL_BASE}/OperationDefinition/rehabilitation-outcomes",
            summary=(
                "Quality data: the calling municipality's rehabilitation outcomes per quarter "
                "(from, to: e.g. 2026-Q1), small counts suppressed"
            ),
            body=body,
            answer="parameters",
        )
        for method, suffix, body in _GET_AND_POST
    ),
    *(
        Operation(
            f"export-{level}{suffix}",
            level,
            method,
            "$export",
            # The `s` of every exported type is checked by the export service (docs/bulk.md).
            "export",
            None,
            "E",
            types=None if level == "system" else frozenset({"Patient"}),
            api_route=True,
            definition=f"http://hl7.org/fhir/uv/bulkdata/OperationDefinition/{definition}",
            summary="Bulk Data $export kick-off (docs/bulk.md)",
            body=body,
            answer="none",
            statuses=frozenset({202}),
        )
        for level, definition in _EXPORT_LEVELS
        for method, suffix, body in _GET_AND_POST
    ),
    # -- type level --------------------------------------------------------------------
    Operation(
        "search",
        "type",
        "GET",
        None,
        "search-type",
        "s",
        "E",
        requires=Interaction.SEARCH_TYPE,
        summary="Search {t}",
        answer="bundle",
    ),
    Operation(
        "search-post",
        "type",
        "POST",
        "_search",
        "search-type",
        "s",
        "E",
        requires=Interaction.SEARCH_TYPE,
        summary="Search {t} (parameters in a form body)",
        body="form",
        answer="bundle",
    ),
    Operation(
        "create",
        "type",
        "POST",
        None,
        "create",
        "c",
        "C",
        requires=Interaction.CREATE,
        write=True,
        summary="Create a {t} (If-None-Exist for conditional create)",
        body="resource",
        statuses=frozenset({200, 201, 404, 409, 412, 422}),
        headers=_CREATED_HEADERS,
    ),
    replace(
        _UPDATE,
        name="conditional-update",
        level="type",
        summary="Update the {t} matching the search criteria",
    ),
    replace(
        _PATCH,
        name="conditional-patch",
        level="type",
        summary="JSON-Patch the {t} matching the search criteria",
    ),
    replace(
        _DELETE,
        name="conditional-delete",
        level="type",
        summary="Delete the {t} matching the search criteria",
    ),
    Operation(
        "validate",
        "type",
        "POST",
        "$validate",
        # Granted like a search of the type: it reads no data of its own.
        "search-type",
        "s",
        "E",
        requires=Interaction.CREATE,
        definition="http://hl7.org/fhir/OperationDefinition/Resource-validate",
        summary=(
            "Validate a {t} against the base spec and our profiles (?profile=); 200 with the issues"
        ),
        body="resource",
        answer="outcome",
    ),
    Operation(
        "history-type",
        "type",
        "GET",
        "_history",
        "history-type",
        "s",
        "R",
        requires=Interaction.HISTORY_TYPE,
        summary="History of all {t} resources",
        answer="bundle",
    ),
    # -- instance level ----------------------------------------------------------------
    Operation(
        "read",
        "instance",
        "GET",
        None,
        "read",
        "r",
        "R",
        requires=Interaction.READ,
        summary="Read the current {t}",
        statuses=frozenset({200, 304, 404, 410}),
        headers=_VERSION_HEADERS,
    ),
    _UPDATE,
    _PATCH,
    _DELETE,
    *(
        Operation(
            f"everything{suffix}",
            "instance",
            method,
            "$everything",
            # Each entry is read under `r` and audited as a read in the patient's MinLog.
            "read",
            "r",
            "R",
            requires=Interaction.READ,
            types=frozenset({"Patient"}),
            definition="http://hl7.org/fhir/OperationDefinition/Patient-everything",
            summary="What the caller may see of the {t}'s compartment (_since, _type, _count)",
            body=body,
            answer="bundle",
            statuses=frozenset({200, 404, 410}),
        )
        for method, suffix, body in _GET_AND_POST
    ),
    Operation(
        "history-instance",
        "instance",
        "GET",
        "_history",
        "history-instance",
        "r",
        "R",
        requires=Interaction.HISTORY_INSTANCE,
        summary="History of one {t}",
        answer="bundle",
        statuses=frozenset({200, 404}),
    ),
    Operation(
        "vread",
        "instance",
        "GET",
        "_history",
        "vread",
        "r",
        "R",
        requires=Interaction.VREAD,
        versioned=True,
        summary="Read one version of a {t}",
        statuses=frozenset({200, 404, 410}),
        headers=_VERSION_HEADERS,
    ),
)

BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}
_BY_KEY: dict[tuple[Level, str, str | None, bool], Operation] = {op.key: op for op in OPERATIONS}
assert len(BY_NAME) == len(_BY_KEY) == len(OPERATIONS), "operation names and URLs are unique"

# One permission letter and one audit action per interaction code, whichever operation uses it.
PERMISSIONS: dict[str, Permission] = {
    op.interaction: op.permission for op in OPERATIONS if op.permission is not None
}
AUDIT_ACTIONS: dict[str, AuditAction] = {
    **{op.interaction: op.action for op in OPERATIONS},
    "batch": "E",
}
assert all(
    PERMISSIONS.get(op.interaction) == op.permission and AUDIT_ACTIONS[op.interaction] == op.action
    for op in OPERATIONS
), "an interaction code has one permission letter and one audit action"

# Reads whose scope is checked up front for the type the URL names: a refusal is a 403,
# not an empty answer that would hide it.
READ_INTERACTIONS = frozenset(
    op.interaction for op in OPERATIONS if op.permission in ("r", "s") and not op.write
)


def find(level: Level, method: str, segment: str | None, versioned: bool) -> Operation | None:
    """The operation at this URL shape and method (HEAD is GET); None if there is none
    (or if its own route in app/api serves it: no Bundle entry reaches it)."""
    op = _BY_KEY.get((level, "GET" if method == "HEAD" else method, segment, versioned))
    return None if op is None or op.api_route else op


def routes() -> Iterator[tuple[Operation, str | None]]:
    """Every (operation, resource type) pair that has a route; system level has no type."""
    routed = [op for op in OPERATIONS if not op.api_route]
    for op in routed:
        if op.level == "system":
            yield op, None
    for spec in REGISTRY.values():
        for op in routed:
            if op.level != "system" and op.offered_by(spec):
                yield op, spec.name

"""The Bulk Data `$export` routes (Bulk Data Access 2.0, export.html; docs/bulk.md).

Kick-off at `[base]/$export`, `[base]/Patient/$export` (and `Group/[id]/$export`, which
is refused: this server has no Group resource), the status URL it answers with, and the
output files. Each route translates HTTP into a call on `ExportService`, nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from app.api.body import read_json
from app.api.fhir_routes import ContextFactory, _prefer
from app.api.methods import HEAD_OF_GET
from app.api.negotiation import (
    FHIR_JSON,
    check_request_media_type,
    render,
    response_media_type,
)
from app.api.openapi_schemas import bulk_docs, shared_error
from app.fhir.bulk import NDJSON, Level, parameters_pairs
from app.fhir.outcome import FhirError, bad_request, information, operation_outcome
from app.interactions.export import FILE_PATH, STATUS_PATH, ExportService
from app.settings import Settings

_QUEUED = {
    "description": "Accepted; Content-Location is the status URL",
    "headers": {"Content-Location": {"required": True, "schema": {"type": "string"}}},
}
_MANIFEST = {
    "description": "Complete: the manifest (export.html#response---complete-status)",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
_RUNNING = {
    "description": "In progress",
    "headers": {
        "Retry-After": {"required": True, "schema": {"type": "string"}},
        "X-Progress": {"required": True, "schema": {"type": "string"}},
    },
}
_FILE = {
    "description": "One NDJSON output file",
    "content": {NDJSON: {"schema": {"type": "string"}}},
}
_DELETED = {
    "description": "Deleted",
    "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
}


def _check_async_request(request: Request) -> None:
    """Bulk Data kick-offs need `Prefer: respond-async`, and an Accept that admits
    application/fhir+json (export.html#headers: without one the server MAY proceed as if
    it had been sent, which `*/*` and no Accept do here); 400 otherwise."""
    try:
        response_media_type(request)
    except FhirError:
        raise bad_request(
            "$export answers in application/fhir+json only: send Accept: application/fhir+json",
            "Accept",
        ) from None
    if _prefer(request, "respond-async") is None:
        raise bad_request("$export needs the header Prefer: respond-async", "Prefer")


class ExportEndpoints:
    def __init__(self, exports: ExportService, settings: Settings, context: ContextFactory):
        self.exports = exports
        self.settings = settings
        self.context = context

    async def kickoff(self, request: Request, level: Level) -> Response:
        ctx = await self.context(request)  # authenticate before reading anything else
        if request.scope.get(HEAD_OF_GET):
            # The kick-off GET starts a job; HEAD must not (RFC 9110 §9.2.1 safe methods).
            raise FhirError.of(405, "not-supported", "HEAD would start an export: use GET or POST")
        _check_async_request(request)
        params = [(k, v) for k, v in request.query_params.multi_items()]
        if request.method == "POST" and request.headers.get("content-type"):
            check_request_media_type(request, {FHIR_JSON, "application/json"})
            params += parameters_pairs(await read_json(request, self.settings))
        path = request.url.path.removeprefix("/fhir")
        query = f"?{request.url.query}" if request.url.query else ""
        status_url = await self.exports.kickoff(
            ctx.principal,
            level,
            params,
            request_url=f"{self.settings.base_url}{path}{query}",
            lenient=_prefer(request, "handling") == "lenient",
        )
        outcome = operation_outcome([information(f"Export queued; poll {status_url}")])
        return render(outcome, 202, headers={"Content-Location": status_url})

    async def system(self, request: Request) -> Response:
        return await self.kickoff(request, "system")

    async def patient(self, request: Request) -> Response:
        return await self.kickoff(request, "patient")

    async def group(self, request: Request) -> Response:
        await self.context(request)
        raise FhirError.of(
            404,
            "not-supported",
            "Group is not a supported resource type: use Patient/$export, with _typeFilter "
            "to choose the patients' data (docs/bulk.md)",
        )

    async def status(self, request: Request) -> Response:
        ctx = await self.context(request)
        job_id = request.path_params["job"]
        if request.method == "DELETE":
            await self.exports.cancel(ctx.principal, job_id)
            return render(operation_outcome([information(f"Export {job_id} deleted")]), 202)
        state = await self.exports.status(ctx.principal, job_id)
        if state.status == 202:
            retry = str(self.exports.settings.retry_after_seconds)
            headers = {"Retry-After": retry, "X-Progress": state.progress or "in progress"}
            return Response(status_code=202, headers=headers)
        if state.manifest is None:
            raise FhirError.of(500, "exception", state.error or "The export failed")
        return render(state.manifest, 200, media_type="application/json")

    async def file(self, request: Request) -> Response:
        ctx = await self.context(request)
        path = await self.exports.file(
            ctx.principal, request.path_params["job"], request.path_params["name"]
        )
        return FileResponse(path, media_type=NDJSON)


def export_router(exports: ExportService, settings: Settings, context: ContextFactory) -> APIRouter:
    """The routes; include them before the FHIR router (`Patient/$export` is no read)."""
    endpoints = ExportEndpoints(exports, settings, context)
    router = APIRouter()
    add: Callable[..., None] = router.add_api_route
    kickoffs: list[tuple[str, Callable[[Request], Awaitable[Response]], str]] = [
        ("/$export", endpoints.system, "system"),
        ("/Patient/$export", endpoints.patient, "patient"),
        ("/Group/{id}/$export", endpoints.group, "group"),
    ]
    for path, endpoint, name in kickoffs:
        for method in ("GET", "POST"):
            add(
                path,
                endpoint,
                methods=[method],
                name=f"export-{name}-{method.lower()}",
                **bulk_docs(
                    f"Bulk Data $export kick-off ({name} level)",
                    {} if name == "group" else {202: _QUEUED},
                    path_parameters=("id",) if name == "group" else (),
                    kickoff=True,
                    body=method == "POST",
                ),
            )
    status_docs = {
        "GET": bulk_docs(
            "Bulk Data export status (202 in progress, 200 with the manifest)",
            {200: _MANIFEST, 202: _RUNNING, 500: shared_error(500)},
            path_parameters=("job",),
        ),
        "DELETE": bulk_docs(
            "Cancel a Bulk Data export and delete its files",
            {202: _DELETED},
            path_parameters=("job",),
        ),
    }
    for method, docs in status_docs.items():
        add(
            f"/{STATUS_PATH}/{{job}}",
            endpoints.status,
            methods=[method],
            name=f"export-status-{method.lower()}",
            **docs,
        )
    add(
        f"/{FILE_PATH}/{{job}}/{{name}}",
        endpoints.file,
        methods=["GET"],
        name="export-file",
        **bulk_docs(
            "One NDJSON output file of a complete export",
            {200: _FILE},
            path_parameters=("job", "name"),
        ),
    )
    return router

"""Every error leaves as an OperationOutcome; a 500 carries a request id, never a trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.negotiation import render
from app.fhir.outcome import FhirError, IssueCode, error, operation_outcome

log = logging.getLogger("esp.api")

_HTTP_CODES: dict[int, IssueCode] = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    503: "transient",
}


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def fhir_error_response(request: Request, exc: FhirError) -> Response:
    headers = {**exc.headers, "X-Request-Id": request_id_of(request)}
    return render(operation_outcome(exc.issues), exc.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FhirError)
    async def _fhir_error(request: Request, exc: FhirError) -> Response:
        if exc.status >= 500:
            log.warning("request failed", extra={"status": exc.status, "reason": str(exc)})
        return fhir_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        issues = [
            error("invalid", str(e.get("msg")), ".".join(str(p) for p in e.get("loc", ())))
            for e in exc.errors()
        ]
        return fhir_error_response(request, FhirError(400, issues))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "processing")
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
        headers = dict(exc.headers or {})
        return fhir_error_response(
            request, FhirError.of(exc.status_code, code, detail, headers=headers)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"request_id": request_id_of(request)})
        outcome = FhirError.of(
            500,
            "exception",
            f"Internal error; quote request id {request_id_of(request)} when reporting it",
        )
        return fhir_error_response(request, outcome)

"""Checks every write passes before anything is stored: base spec, then profiles."""

from __future__ import annotations

from typing import Any, Protocol

from app.fhir.outcome import FhirError, Issue
from app.fhir.resource_types import spec_for
from app.fhir.validation import require_valid


class ProfileValidator(Protocol):
    """Validates a resource against the profiles that apply to it (fhir_profiles/)."""

    def validate(self, resource: dict[str, Any]) -> list[Issue]: ...


def check_type_writable(resource_type: str) -> None:
    spec = spec_for(resource_type)
    if spec is None:
        raise FhirError.of(
            404, "not-supported", f"Resource type '{resource_type}' is not supported"
        )
    if not spec.writable:
        reason = "written only by the server" if spec.server_written else "read-only"
        raise FhirError.of(405, "not-supported", f"{resource_type} is {reason}")


def prepare_content(
    body: Any,
    resource_type: str,
    profiles: ProfileValidator | None,
    *,
    url_id: str | None = None,
) -> dict[str, Any]:
    """The validated resource to store; 400 for base-spec errors, 422 for profile errors."""
    check_type_writable(resource_type)
    content = require_valid(body, resource_type)
    if url_id is not None:
        body_id = content.get("id")
        if body_id is None:
            raise FhirError.of(
                400, "required", "The resource must carry the id of the URL", f"{resource_type}.id"
            )
        if body_id != url_id:
            raise FhirError.of(
                400,
                "invalid",
                f"The resource id '{body_id}' differs from the URL id '{url_id}'",
                f"{resource_type}.id",
            )
    if profiles is not None:
        issues = profiles.validate(content)
        if any(i.severity in ("error", "fatal") for i in issues):
            raise FhirError(422, issues)
    return content

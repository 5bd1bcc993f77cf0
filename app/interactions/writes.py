"""Checks every write passes before anything is stored: base spec, then profiles.

Profiles may check referenced resources (e.g. a pathway plan must address a KOL
or type 2 diabetes diagnosis), so their references are fetched first: from the
same transaction Bundle, else from the database under the caller's own access.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from app.fhir.outcome import FhirError, Issue
from app.fhir.resource_types import spec_for
from app.fhir.subscription import EndpointPolicy, as_requested, parse_subscription
from app.fhir.validation import parse_reference, require_valid
from app.storage.repository import Repository

Resolver = Callable[[str], dict[str, Any] | None]


class ProfileValidator(Protocol):
    """Validates a resource against the profiles that apply to it (fhir_profiles/)."""

    def validate(
        self,
        resource: Mapping[str, Any],
        profile_urls: Any = None,
        *,
        resolve: Resolver | None = None,
    ) -> list[Issue]: ...


def check_type_writable(resource_type: str) -> None:
    spec = spec_for(resource_type)
    if spec is None:
        raise FhirError.of(
            404, "not-supported", f"Resource type '{resource_type}' is not supported"
        )
    if not spec.writable:
        reason = "written only by the server" if spec.server_written else "read-only"
        raise FhirError.of(405, "not-supported", f"{resource_type} is {reason}")


def check_base(body: Any, resource_type: str, *, url_id: str | None = None) -> dict[str, Any]:
    """The resource if it is valid R4 for this URL; 400 naming the element otherwise."""
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
    return content


def _references(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found.add(value)
            elif key != "contained":
                _references(value, found)
    elif isinstance(node, list):
        for item in node:
            _references(item, found)
    return found


async def _resolver(
    repo: Repository, content: dict[str, Any], siblings: Mapping[str, dict[str, Any]]
) -> Resolver:
    """A lookup of every reference in `content`, prefetched (the validator is synchronous)."""
    known: dict[str, dict[str, Any] | None] = {}
    for reference in _references(content, set()):
        if reference in siblings:
            known[reference] = siblings[reference]
            continue
        parsed = parse_reference(reference)
        if parsed is None:
            continue
        try:  # one statement: `read` answers 404 exactly where `exists_visible` is false
            known[reference] = (await repo.read(*parsed)).content
        except FhirError as exc:
            if exc.status != 404:
                raise  # 410: a deleted target refuses the write, as before
    return known.get


class WriteChecks:
    """Base-spec and profile validation for create, update and patch."""

    def __init__(
        self,
        profiles: ProfileValidator | None,
        endpoints: EndpointPolicy | None = None,
        *,
        base_url: str = "",
    ) -> None:
        self.profiles = profiles
        # Where Subscriptions may send notifications (none when not configured).
        self.endpoints = endpoints or EndpointPolicy()
        self.base_url = base_url

    async def prepare(
        self,
        repo: Repository,
        body: Any,
        resource_type: str,
        *,
        url_id: str | None = None,
        siblings: Mapping[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        content = check_base(body, resource_type, url_id=url_id)
        if resource_type == "Subscription":
            content = self._subscription(content)
        if self.profiles is not None:
            resolve = await _resolver(repo, content, siblings or {})
            issues = self.profiles.validate(content, resolve=resolve)
            if any(i.severity in ("error", "fatal") for i in issues):
                raise FhirError(422, issues)
        return content

    def _subscription(self, content: dict[str, Any]) -> dict[str, Any]:
        """Criteria we serve, an endpoint we may call, and the status the server owns."""
        request = parse_subscription(content, self.base_url)
        self.endpoints.check(request.channel.endpoint)
        return as_requested(content)

    async def validate(
        self,
        repo: Repository,
        body: Any,
        resource_type: str,
        profile: str | None = None,
    ) -> list[Issue]:
        """$validate: every issue of `body` (R4 Resource-validate); never raises for it."""
        try:
            content = require_valid(body, resource_type)
        except FhirError as exc:
            return list(exc.issues)
        if self.profiles is None:
            return []
        resolve = await _resolver(repo, content, {})
        urls = [profile] if profile else None
        return self.profiles.validate(content, urls, resolve=resolve)

"""SMART on FHIR scopes (SMART App Launch v2, scopes-and-launch-context.html).

`context/Type.perms[?param=value&...]`: context is `patient`, `user` or
`system`; Type is a resource type or `*`; perms are a non-empty subset of
`cruds` in that order. v1 `.read`, `.write` and `.*` are read as `rs`, `cud` and
`cruds`. Anything that does not parse grants nothing: a typo can never widen
access (fail closed). Scopes only narrow what the access rules allow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl

from app.fhir.operations import PERMISSIONS, Permission

Context = Literal["patient", "user", "system"]
Filter = tuple[tuple[str, str], ...]

CONTEXTS: frozenset[str] = frozenset({"patient", "user", "system"})
PERMISSION_ORDER = "cruds"

# SMART v2 table "Scopes for requesting FHIR Resources": which REST interaction
# needs which permission letter, from the operations table (instance history is `r`,
# type/system history `s`), plus the generic names internal callers use.
_INTERACTIONS: dict[str, Permission] = {**PERMISSIONS, "history": "r", "search": "s"}

_V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_V2_PERMISSIONS = re.compile(r"c?r?u?d?s?")
_RESOURCE_SCOPE = re.compile(
    r"(?P<context>[a-z]+)/(?P<type>\*|[A-Z][A-Za-z]*)\.(?P<perms>[a-z*]+)(?:\?(?P<query>.*))?",
    re.DOTALL,
)
# A granular parameter is a plain search-parameter name: no modifiers (`:not`,
# `:missing`), no chains, so the compiler can only ever AND a restriction in.
_PARAM_NAME = re.compile(r"[a-z][A-Za-z0-9-]*|_[a-z][A-Za-z]*")

# Scopes that are valid but grant no access to resources (SMART v2, OpenID Connect).
NON_RESOURCE_SCOPES: frozenset[str] = frozenset(
    {
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
    }
)


def permission_for(interaction: str) -> Permission:
    """The SMART permission letter for an interaction name or letter (`read` -> `r`)."""
    if interaction in PERMISSION_ORDER and len(interaction) == 1:
        return interaction  # type: ignore[return-value]
    try:
        return _INTERACTIONS[interaction]
    except KeyError:
        raise ValueError(f"unknown interaction {interaction!r}") from None


@dataclass(frozen=True, slots=True)
class Scope:
    """One parsed resource scope, e.g. `patient/Condition.rs?category=...`."""

    context: Context
    resource_type: str  # a resource type or "*"
    permissions: frozenset[Permission]
    params: Filter = ()
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        """Parse one resource scope; None when it is not a valid SMART resource scope."""
        match = _RESOURCE_SCOPE.fullmatch(text)
        if match is None or match["context"] not in CONTEXTS:
            return None
        perms_text, query = match["perms"], match["query"]
        if perms_text in _V1_PERMISSIONS:
            if query is not None:  # granular parameters are a v2 feature
                return None
            perms_text = _V1_PERMISSIONS[perms_text]
        elif not perms_text or not _V2_PERMISSIONS.fullmatch(perms_text):
            return None
        params: Filter = ()
        if query is not None:
            parsed = _parse_params(query)
            if parsed is None:
                return None
            params = parsed
        permissions = frozenset(p for p in PERMISSION_ORDER if p in perms_text)
        context: Context = match["context"]  # type: ignore[assignment]
        return cls(context, match["type"], permissions, params, text)  # type: ignore[arg-type]

    def grants(self, resource_type: str, permission: Permission) -> bool:
        """True if this scope grants `permission` on `resource_type` (ignoring params)."""
        return permission in self.permissions and self.resource_type in ("*", resource_type)

    def includes(self, other: Scope) -> bool:
        """True if everything `other` grants is also granted by this scope."""
        return (
            self.context == other.context
            and self.resource_type in ("*", other.resource_type)
            and other.permissions <= self.permissions
            # An unrestricted scope includes a restricted one; a restricted one only
            # includes scopes at least as restricted.
            and set(self.params) <= set(other.params)
        )


def _parse_params(query: str) -> Filter | None:
    if not query:
        return None
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    if not pairs or any(not value or not _PARAM_NAME.fullmatch(name) for name, value in pairs):
        return None
    return tuple(pairs)


class ScopeNotGranted(PermissionError):
    """No scope grants the interaction; raised instead of returning an empty filter list."""


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """The scopes of a token: resource scopes that grant, and the rest that do not."""

    scopes: tuple[Scope, ...] = ()
    # Valid non-resource scopes (openid, launch/patient, ...): kept, grant nothing.
    other: tuple[str, ...] = ()
    # Scopes that did not parse or were dropped (see `for_contexts`): grant nothing.
    ignored: tuple[str, ...] = ()

    @classmethod
    def parse(cls, scope_string: str | Iterable[str] | None) -> ScopeSet:
        """Parse a space-separated scope string (RFC 6749 §3.3); never raises on bad scopes."""
        if scope_string is None:
            return cls()
        tokens = scope_string.split() if isinstance(scope_string, str) else list(scope_string)
        scopes: list[Scope] = []
        other: list[str] = []
        ignored: list[str] = []
        seen: set[str] = set()
        for token in tokens:
            if not isinstance(token, str) or token in seen:
                continue
            seen.add(token)
            if token in NON_RESOURCE_SCOPES:
                other.append(token)
                continue
            scope = Scope.parse(token)
            if scope is None:
                ignored.append(token)
            else:
                scopes.append(scope)
        return cls(tuple(scopes), tuple(other), tuple(ignored))

    def __str__(self) -> str:
        return " ".join([s.text for s in self.scopes] + list(self.other))

    def __bool__(self) -> bool:
        return bool(self.scopes)

    def for_contexts(self, *contexts: Context) -> ScopeSet:
        """Keep only resource scopes of the given contexts; the rest move to `ignored`."""
        keep = tuple(s for s in self.scopes if s.context in contexts)
        dropped = tuple(s.text for s in self.scopes if s.context not in contexts)
        return ScopeSet(keep, self.other, self.ignored + dropped)

    def _granting(self, resource_type: str, interaction: str) -> list[Scope]:
        permission = permission_for(interaction)
        return [s for s in self.scopes if s.grants(resource_type, permission)]

    def allows(self, resource_type: str, interaction: str) -> bool:
        """True if some scope grants `interaction` (name or letter) on `resource_type`.

        A granular scope counts: the rows it may touch are limited by `granular_filters`.
        """
        return bool(self._granting(resource_type, interaction))

    def granular_filters(self, resource_type: str, interaction: str) -> list[Filter] | None:
        """The row filter the scopes impose on `interaction` over `resource_type`.

        None: an unrestricted scope grants it (no row filter). Otherwise a non-empty
        list of parameter filters to OR together; the params inside one filter are
        ANDed. Raises `ScopeNotGranted` when nothing grants it, so an empty list can
        never be mistaken for "no filter".
        """
        granting = self._granting(resource_type, interaction)
        if not granting:
            raise ScopeNotGranted(f"no scope grants {interaction} on {resource_type}")
        if any(not s.params for s in granting):
            return None
        filters: list[Filter] = []
        for scope in granting:
            if scope.params not in filters:
                filters.append(scope.params)
        return filters

    def includes(self, requested: ScopeSet) -> bool:
        """True if every scope in `requested` is covered by one of ours (RFC 6749 §3.3)."""
        if requested.ignored:
            return False
        return all(any(mine.includes(s) for mine in self.scopes) for s in requested.scopes) and all(
            o in self.other for o in requested.other
        )

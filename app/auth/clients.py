"""Registered clients from `ESP_CLIENTS_FILE`: backend services and SMART apps.

Client metadata follows RFC 7591 names (`client_id`, `jwks`, `scope`, `grant_types`,
`redirect_uris`, `token_endpoint_auth_method`). A backend client
(`client_credentials`) also carries the organisation claims its tokens carry: the
organisation comes from here, never from the token request. An app client
(`authorization_code`, SMART App Launch) is public (`none`: a browser app, no secret)
or confidential asymmetric (`private_key_jwt`). Format: docs/authorization.md#client-registration.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.access.principal import InvalidClaims, Principal
from app.access.scopes import NON_RESOURCE_SCOPES, ScopeSet
from app.auth.errors import ConfigError
from app.auth.jwks import public_keyset

ORG_CLAIMS = ("dk_org_sor", "dk_org_kommunekode", "dk_org_ydernummer", "dk_org_region")
_FIELDS = frozenset(
    {
        "client_id",
        "client_name",
        "user_type",
        "jwks",
        "scope",
        "token_endpoint_auth_method",
        "grant_types",
        "redirect_uris",
    }
    | set(ORG_CLAIMS)
)
AuthMethod = Literal["private_key_jwt", "none"]
APP_GRANTS = frozenset({"authorization_code", "refresh_token"})
# Non-resource scopes an app may be registered for: no EHR launch (`launch`,
# `launch/encounter`) exists here, only the standalone patient launch.
APP_OTHER_SCOPES = NON_RESOURCE_SCOPES - {"launch", "launch/encounter"}
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A client: its public keys, the scopes it may ask for and, for backends, the organisation."""

    client_id: str
    keys: KeySet = field(repr=False)
    scope: ScopeSet
    org: Mapping[str, str]
    client_name: str | None = None
    user_type: str = "system"
    grant_types: frozenset[str] = frozenset({"client_credentials"})
    auth_method: AuthMethod = "private_key_jwt"
    redirect_uris: tuple[str, ...] = ()

    @property
    def is_app(self) -> bool:
        """A SMART app (authorization code flow), not a backend service."""
        return "authorization_code" in self.grant_types

    @property
    def is_public(self) -> bool:
        """A public client authenticates with nothing but its client_id (RFC 6749 §2.1)."""
        return self.auth_method == "none"

    def grant(self, requested: str) -> ScopeSet:
        """The requested scopes this registration covers; the rest are dropped (RFC 6749 §3.3)."""
        granted = [
            token
            for token in dict.fromkeys(requested.split())
            if self.scope.includes(ScopeSet.parse(token))
        ]
        return ScopeSet.parse(granted)


class ClientRegistry:
    """The registered clients, by `client_id`."""

    def __init__(self, clients: list[RegisteredClient] | None = None) -> None:
        self._clients = {c.client_id: c for c in clients or []}

    def get(self, client_id: str) -> RegisteredClient | None:
        return self._clients.get(client_id)

    def __len__(self) -> int:
        return len(self._clients)

    def __iter__(self) -> Iterator[RegisteredClient]:
        return iter(self._clients.values())

    @classmethod
    def load(cls, path: Path | None) -> ClientRegistry:
        """Read the clients file; no file configured means no clients."""
        if path is None:
            return cls()
        try:
            document = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read clients file {path}: {exc}") from exc
        return cls.from_document(document, source=str(path))

    @classmethod
    def from_document(cls, document: object, *, source: str = "clients") -> ClientRegistry:
        """Check and load `{"clients": [...]}`; `ConfigError` on anything doubtful."""
        if not isinstance(document, dict) or not isinstance(document.get("clients"), list):
            raise ConfigError(f'{source}: expected {{"clients": [...]}}')
        clients: list[RegisteredClient] = []
        for n, entry in enumerate(document["clients"]):
            client = _client(entry, f"{source}: clients[{n}]")
            if any(c.client_id == client.client_id for c in clients):
                raise ConfigError(f"{source}: client_id {client.client_id!r} registered twice")
            clients.append(client)
        return cls(clients)


def _client(entry: Any, where: str) -> RegisteredClient:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise ConfigError(f"{where} has unknown fields {sorted(unknown)}")
    client_id = entry.get("client_id")
    if not isinstance(client_id, str) or not (0 < len(client_id) <= 255):
        raise ConfigError(f"{where}.client_id must be a string of 1-255 characters")
    if not client_id.isprintable():
        raise ConfigError(f"{where}.client_id must be a printable string")
    where = f"{where} ({client_id})"
    grants = entry.get("grant_types", ["client_credentials"])
    if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
        raise ConfigError(f"{where}.grant_types must be a list of strings")
    if set(grants) == {"client_credentials"}:
        return _backend_client(entry, client_id, where)
    if "authorization_code" in grants and set(grants) <= APP_GRANTS:
        return _app_client(entry, client_id, frozenset(grants), where)
    raise ConfigError(
        f"{where}.grant_types: either [client_credentials] (a backend service) or "
        "authorization_code with an optional refresh_token (an app)"
    )


def _keys(entry: dict[str, Any], where: str) -> KeySet:
    try:
        return public_keyset(entry.get("jwks"), allow_private=False)
    except (ValueError, JoseError) as exc:
        raise ConfigError(f"{where}.jwks: {exc}") from exc


def _scope(entry: dict[str, Any], where: str) -> tuple[str, ScopeSet]:
    scope_text = entry.get("scope")
    if not isinstance(scope_text, str) or not scope_text.strip():
        raise ConfigError(f"{where}.scope must list the scopes the client may request")
    return scope_text, ScopeSet.parse(scope_text)


def _name(entry: dict[str, Any]) -> str | None:
    name = entry.get("client_name")
    return name if isinstance(name, str) else None


def _backend_client(entry: dict[str, Any], client_id: str, where: str) -> RegisteredClient:
    if entry.get("user_type", "system") != "system":
        raise ConfigError(f"{where}: only user_type 'system' clients can be registered")
    if entry.get("token_endpoint_auth_method", "private_key_jwt") != "private_key_jwt":
        raise ConfigError(f"{where}: token_endpoint_auth_method must be private_key_jwt")
    if "redirect_uris" in entry:
        raise ConfigError(f"{where}: redirect_uris are for authorization_code clients")
    keys = _keys(entry, where)
    scope_text, scope = _scope(entry, where)
    if scope.ignored or scope.other or any(s.context != "system" for s in scope.scopes):
        raise ConfigError(f"{where}.scope: only valid system/ scopes, got {scope_text!r}")
    org = {name: entry[name] for name in ORG_CLAIMS if entry.get(name) is not None}
    try:  # the tokens we would issue must make a valid principal
        Principal.from_claims(
            {"iss": "registration", "sub": client_id, "dk_user_type": "system", **org}
        )
    except InvalidClaims as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return RegisteredClient(client_id, keys, scope, org, _name(entry))


def _app_client(
    entry: dict[str, Any], client_id: str, grants: frozenset[str], where: str
) -> RegisteredClient:
    """A SMART app: citizens sign in through /auth/authorize (docs/authorization.md)."""
    misplaced = sorted({"user_type", *ORG_CLAIMS} & set(entry))
    if misplaced:
        raise ConfigError(f"{where}: {misplaced} are for backend clients; apps act for citizens")
    method = entry.get("token_endpoint_auth_method")
    if method not in ("none", "private_key_jwt"):
        raise ConfigError(
            f"{where}.token_endpoint_auth_method must be 'none' (public) or 'private_key_jwt'"
        )
    if method == "none" and "jwks" in entry:
        raise ConfigError(f"{where}: a public client ('none') has no jwks")
    keys = _keys(entry, where) if method == "private_key_jwt" else KeySet([])
    scope_text, scope = _scope(entry, where)
    if (
        scope.ignored
        or any(s.context == "system" for s in scope.scopes)
        or not set(scope.other) <= APP_OTHER_SCOPES
    ):
        raise ConfigError(
            f"{where}.scope: only patient/ and user/ scopes and "
            f"{' '.join(sorted(APP_OTHER_SCOPES))}, got {scope_text!r}"
        )
    uris = entry.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        raise ConfigError(f"{where}.redirect_uris must list the app's redirect URIs")
    for uri in uris:
        _check_redirect_uri(uri, f"{where}.redirect_uris")
    return RegisteredClient(
        client_id,
        keys,
        scope,
        {},
        _name(entry),
        user_type="citizen",
        grant_types=grants,
        auth_method=method,
        redirect_uris=tuple(uris),
    )


def _check_redirect_uri(uri: object, where: str) -> None:
    """Absolute, no fragment (RFC 6749 §3.1.2); https, or http on loopback (RFC 8252 §7.3)."""
    parts = urlsplit(uri) if isinstance(uri, str) else None
    if parts is None or not parts.netloc or parts.fragment or "#" in str(uri):
        raise ConfigError(f"{where}: {uri!r} is not an absolute URI without a fragment")
    if parts.scheme != "https" and not (
        parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
    ):
        raise ConfigError(f"{where}: {uri!r} must be https (http only on a loopback address)")

"""Registered backend clients from `ESP_CLIENTS_FILE` (SMART Backend Services registration).

Client metadata follows RFC 7591 names (`client_id`, `jwks`, `scope`) plus the
organisation claims the issued tokens carry. The organisation comes from here,
never from the token request. Format: docs/authorization.md#client-registration.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app.access.principal import InvalidClaims, Principal
from app.access.scopes import ScopeSet
from app.auth.errors import ConfigError
from app.auth.jwks import public_keyset

ORG_CLAIMS = ("dk_org_sor", "dk_org_kommunekode", "dk_org_ydernummer", "dk_org_region")
_FIELDS = frozenset(
    {"client_id", "client_name", "user_type", "jwks", "scope", "token_endpoint_auth_method"}
    | set(ORG_CLAIMS)
)


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A backend client: its public keys, organisation and the scopes it may ask for."""

    client_id: str
    keys: KeySet = field(repr=False)
    scope: ScopeSet
    org: Mapping[str, str]
    client_name: str | None = None
    user_type: str = "system"


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
    if entry.get("user_type", "system") != "system":
        raise ConfigError(f"{where}: only user_type 'system' clients can be registered")
    if entry.get("token_endpoint_auth_method", "private_key_jwt") != "private_key_jwt":
        raise ConfigError(f"{where}: token_endpoint_auth_method must be private_key_jwt")
    try:
        keys = public_keyset(entry.get("jwks"), allow_private=False)
    except (ValueError, JoseError) as exc:
        raise ConfigError(f"{where}.jwks: {exc}") from exc
    scope_text = entry.get("scope")
    if not isinstance(scope_text, str) or not scope_text.strip():
        raise ConfigError(f"{where}.scope must list the scopes the client may request")
    scope = ScopeSet.parse(scope_text)
    if scope.ignored or any(s.context != "system" for s in scope.scopes):
        raise ConfigError(f"{where}.scope: only valid system/ scopes, got {scope_text!r}")
    org = {name: entry[name] for name in ORG_CLAIMS if entry.get(name) is not None}
    try:  # the tokens we would issue must make a valid principal
        Principal.from_claims(
            {"iss": "registration", "sub": client_id, "dk_user_type": "system", **org}
        )
    except InvalidClaims as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    name = entry.get("client_name")
    return RegisteredClient(client_id, keys, scope, org, name if isinstance(name, str) else None)

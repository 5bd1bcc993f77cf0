"""Trusted token issuers from `ESP_TRUSTED_ISSUERS` (docs/authorization.md#trusted-issuers).

A JSON list of `{"issuer": ..., "jwks_uri": ...}` or `{"issuer": ..., "jwks_file": ...}`,
optionally with `token_endpoint` and `authorization_endpoint` (advertised in
.well-known/smart-configuration when the development issuer is off).
A token's `iss` must equal one `issuer` exactly (RFC 7519 §4.1.1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from app.auth.errors import ConfigError
from app.auth.jwks import FileJwks, HttpJwks, JwksSource

_FIELDS = frozenset({"issuer", "jwks_uri", "jwks_file", "token_endpoint", "authorization_endpoint"})


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    """One trusted issuer and where its keys are."""

    issuer: str
    jwks_uri: str | None = None
    jwks_file: Path | None = None
    token_endpoint: str | None = None
    # A production IdP's SMART App Launch endpoint (docs/authorization.md#production-idp).
    authorization_endpoint: str | None = None


def parse_trusted_issuers(text: str, *, allow_http: bool = False) -> list[IssuerConfig]:
    """Parse and check the trusted-issuer list; `ConfigError` on anything doubtful."""
    try:
        entries = json.loads(text or "[]")
    except ValueError as exc:
        raise ConfigError(f"ESP_TRUSTED_ISSUERS is not JSON: {exc}") from exc
    if not isinstance(entries, list):
        raise ConfigError("ESP_TRUSTED_ISSUERS must be a JSON list")
    configs: list[IssuerConfig] = []
    for n, entry in enumerate(entries):
        where = f"ESP_TRUSTED_ISSUERS[{n}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be an object")
        unknown = set(entry) - _FIELDS
        if unknown:
            raise ConfigError(f"{where} has unknown fields {sorted(unknown)}")
        issuer = entry.get("issuer")
        if not isinstance(issuer, str) or not issuer or issuer != issuer.strip():
            raise ConfigError(f"{where}.issuer must be a non-empty string")
        uri, file = entry.get("jwks_uri"), entry.get("jwks_file")
        if (uri is None) == (file is None):
            raise ConfigError(f"{where} needs exactly one of jwks_uri and jwks_file")
        if uri is not None:
            _check_url(f"{where}.jwks_uri", uri, allow_http)
        if file is not None and (not isinstance(file, str) or not file):
            raise ConfigError(f"{where}.jwks_file must be a path")
        token_endpoint = entry.get("token_endpoint")
        if token_endpoint is not None:
            _check_url(f"{where}.token_endpoint", token_endpoint, allow_http)
        authorize = entry.get("authorization_endpoint")
        if authorize is not None:
            _check_url(f"{where}.authorization_endpoint", authorize, allow_http)
            if token_endpoint is None:
                raise ConfigError(f"{where}: an authorization_endpoint needs a token_endpoint")
        if any(c.issuer == issuer for c in configs):
            raise ConfigError(f"{where}: issuer {issuer!r} is listed twice")
        configs.append(
            IssuerConfig(issuer, uri, Path(file) if file else None, token_endpoint, authorize)
        )
    return configs


def _check_url(where: str, value: object, allow_http: bool) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a URL")
    parts = urlsplit(value)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(f"{where} must be an {' or '.join(schemes)} URL, got {value!r}")


def jwks_sources(
    configs: list[IssuerConfig], *, client: httpx.AsyncClient, timeout: float
) -> dict[str, JwksSource]:
    """The key source of each trusted issuer, by issuer."""
    sources: dict[str, JwksSource] = {}
    for config in configs:
        if config.jwks_uri is not None:
            sources[config.issuer] = HttpJwks(config.jwks_uri, client, timeout=timeout)
        elif config.jwks_file is not None:
            sources[config.issuer] = FileJwks(config.jwks_file)
    return sources

"""The authentication service the HTTP layer holds: built once at startup from Settings.

`check_startup` refuses unsafe configurations (the dev issuer in production);
`build_auth_service` wires trusted issuers, the dev issuer and the validator.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.principal import Principal
from app.auth.bearer import bearer_token
from app.auth.clients import ClientRegistry
from app.auth.dev_issuer import DevIssuer
from app.auth.discovery import DEFAULT_SCOPES_SUPPORTED, capability_security, smart_configuration
from app.auth.errors import ConfigError
from app.auth.issuers import IssuerConfig, jwks_sources, parse_trusted_issuers
from app.auth.keys import DEFAULT_KEY_PATH, load_or_create_signing_key
from app.auth.launch import Citizen
from app.auth.tokens import TokenValidator
from app.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AuthService:
    """Bearer-token authentication plus, in development, the embedded issuer."""

    validator: TokenValidator
    dev_issuer: DevIssuer | None = None
    env: Literal["development", "production"] = "development"
    # External issuer advertised in discovery when there is no dev issuer.
    discovery_issuer: IssuerConfig | None = None
    scopes_supported: tuple[str, ...] = DEFAULT_SCOPES_SUPPORTED
    http_client: httpx.AsyncClient | None = field(default=None, repr=False)  # owned: aclose()

    async def authenticate(self, authorization: str | None) -> Principal:
        """The Principal for an `Authorization` header value; FhirError 401/503 otherwise."""
        return await self.validator.authenticate(bearer_token(authorization))

    @property
    def dev_token_issuer(self) -> DevIssuer | None:
        """The issuer behind /auth/dev-token: only in development, never in production."""
        return self.dev_issuer if self.env == "development" else None

    @property
    def token_endpoint(self) -> str | None:
        if self.dev_issuer is not None:
            return self.dev_issuer.token_url
        return self.discovery_issuer.token_endpoint if self.discovery_issuer else None

    @property
    def authorization_endpoint(self) -> str | None:
        """The SMART App Launch authorize URL: ours (dev, with a database) or the IdP's."""
        if self.dev_issuer is not None:
            launch = self.dev_issuer.launch
            return launch.authorization_url if launch is not None else None
        return self.discovery_issuer.authorization_endpoint if self.discovery_issuer else None

    def smart_configuration(self) -> dict[str, Any] | None:
        """The SMART discovery document, or None when no token endpoint is known."""
        jwks_uri: str | None
        if self.dev_issuer is not None:
            issuer, jwks_uri = self.dev_issuer.issuer, self.dev_issuer.jwks_url
        elif self.discovery_issuer is not None and self.discovery_issuer.token_endpoint:
            issuer, jwks_uri = self.discovery_issuer.issuer, self.discovery_issuer.jwks_uri
        else:
            return None
        return smart_configuration(
            issuer=issuer,
            token_endpoint=self.token_endpoint or "",
            jwks_uri=jwks_uri,
            scopes_supported=self.scopes_supported,
            authorization_endpoint=self.authorization_endpoint,
        )

    def capability_security(self) -> dict[str, Any]:
        """CapabilityStatement.rest.security for the generated CapabilityStatement."""
        return capability_security(self.token_endpoint, self.authorization_endpoint)

    async def aclose(self) -> None:
        if self.http_client is not None:
            await self.http_client.aclose()


def check_startup(settings: Settings) -> None:
    """Refuse to start with an unsafe or broken auth configuration (raises ConfigError)."""
    if settings.env == "production" and settings.dev_issuer_enabled:
        raise ConfigError(
            "ESP_DEV_ISSUER is enabled in production: the development issuer mints any "
            "token and must never run in production"
        )
    configs = parse_trusted_issuers(
        settings.trusted_issuers, allow_http=settings.env == "development"
    )
    if settings.env == "production" and not configs:
        log.warning("no ESP_TRUSTED_ISSUERS in production: every request will be refused (401)")


def build_auth_service(
    settings: Settings,
    *,
    http_client: httpx.AsyncClient | None = None,
    dev_key_path: Path = DEFAULT_KEY_PATH,
    engine: AsyncEngine | None = None,
    citizens: Sequence[Citizen] = (),
) -> AuthService:
    """Build the AuthService from settings (call in the app lifespan; `aclose()` on shutdown).

    With the service's database `engine`, the dev issuer also runs the SMART App Launch
    (authorize endpoint, login page listing `citizens`, code and refresh grants).
    """
    check_startup(settings)
    configs = parse_trusted_issuers(
        settings.trusted_issuers, allow_http=settings.env == "development"
    )
    owned = http_client is None
    client = http_client or httpx.AsyncClient(
        timeout=settings.external_timeout_seconds, follow_redirects=False
    )
    sources = jwks_sources(configs, client=client, timeout=settings.external_timeout_seconds)
    dev_issuer = None
    if settings.dev_issuer_enabled:
        dev_issuer = DevIssuer(
            settings.base_url,
            load_or_create_signing_key(dev_key_path),
            ClientRegistry.load(settings.clients_file),
            engine=engine,
            citizens=citizens,
            custody_authorities=settings.custody_authority_sors,
        )
        if dev_issuer.issuer in sources:
            raise ConfigError(
                f"ESP_TRUSTED_ISSUERS must not list the dev issuer {dev_issuer.issuer}"
            )
        sources[dev_issuer.issuer] = dev_issuer.jwks_source()
        log.warning(
            "development issuer enabled at %s: never use it in production", dev_issuer.issuer
        )
    return AuthService(
        validator=TokenValidator(sources, settings.base_url),
        dev_issuer=dev_issuer,
        env=settings.env,
        discovery_issuer=next((c for c in configs if c.token_endpoint), None),
        http_client=client if owned else None,
    )

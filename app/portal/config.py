"""Portal configuration: session cookies from Settings, OpenID Connect from `ESP_OIDC_*`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic_settings import BaseSettings, SettingsConfigDict

from app.settings import Settings

# The scopes a citizen token needs: read own data, create and revoke own opt-outs.
CITIZEN_SCOPES = "patient/*.rs patient/Consent.cu"
CUSTODY_SCOPES = "patient/*.rs"


class OidcSettings(BaseSettings):
    """The external IdP the portal signs citizens in with (production)."""

    model_config = SettingsConfigDict(env_prefix="ESP_OIDC_", extra="ignore")

    # The IdP's issuer; metadata is read from <issuer>/.well-known/openid-configuration
    # unless `metadata_url` names another document.
    issuer: str = ""
    metadata_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    # The callback URL registered at the IdP, e.g. https://esp.example.dk/portal/login/callback.
    redirect_uri: str = ""
    scope: str = f"openid {CITIZEN_SCOPES}"

    @property
    def configured(self) -> bool:
        return bool(self.issuer and self.client_id and self.redirect_uri)

    @property
    def discovery_url(self) -> str:
        return self.metadata_url or f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


@dataclass(frozen=True, slots=True)
class PortalConfig:
    """What the portal reads from the service settings."""

    base_url: str
    development: bool
    dev_issuer: bool
    cookie_secure: bool
    max_age: int
    session_secret: str
    database_url: str
    oidc: OidcSettings

    @classmethod
    def from_settings(cls, settings: Settings, oidc: OidcSettings | None = None) -> PortalConfig:
        return cls(
            base_url=settings.base_url,
            development=settings.env == "development",
            dev_issuer=settings.env == "development" and settings.dev_issuer_enabled,
            cookie_secure=settings.session_cookie_secure,
            max_age=settings.session_max_age_seconds,
            session_secret=settings.session_secret,
            database_url=settings.database_url,
            oidc=oidc or OidcSettings(),
        )

    @property
    def cookie_name(self) -> str:
        """`__Host-` binds the cookie to this host and path / (RFC 6265bis §4.1.3.2)."""
        return "__Host-esp_portal" if self.cookie_secure else "esp_portal"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

"""Refuse to start a deployment whose settings are unsafe (raises ConfigError).

Production serves patient data: its public base URL must be https (tokens are
bearer credentials, R4 security.html: "all exchanges SHALL use TLS"), and CORS
must never allow credentials for any origin (`*`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from app.auth.errors import ConfigError
from app.settings import Settings


def check_deployment(settings: Settings) -> None:
    if settings.env == "production" and urlsplit(settings.base_url).scheme != "https":
        raise ConfigError(
            f"ESP_BASE_URL must be an https URL in production, not {settings.base_url!r}: "
            "FHIR exchanges of patient data use TLS (R4 security.html)"
        )
    if settings.cors_allow_credentials and "*" in settings.cors_origins:
        raise ConfigError(
            "ESP_CORS_ALLOW_CREDENTIALS cannot be combined with ESP_CORS_ORIGINS='*': "
            "list the origins that may send credentials"
        )
    for origin in settings.cors_origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise ConfigError(
                f"ESP_CORS_ORIGINS: {origin!r} is not an origin such as https://app.example.dk"
            )

"""Service configuration from `ESP_*` environment variables (pydantic-settings)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///./var/esp-careplans.db"
# The demo's registry feeds (app/demo/organisations.py; a test keeps the two in step):
# the CPR registry feed records custody and GP listings, the regions' contact feed
# records hospital contacts. The defaults of the authority settings in development only.
DEMO_CPR_REGISTRY_SOR = "6039191000016002"
DEMO_CONTACT_FEED_SOR = "6039201000016008"
_SOR = re.compile(r"[0-9]{1,18}")


class Settings(BaseSettings):
    """All settings; each field is read from `ESP_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="ESP_", extra="ignore")

    database_url: str = DEFAULT_SQLITE_URL
    # The public FHIR base URL; unset: http://ESP_HOST:ESP_PORT/fhir (see _default_base_url).
    base_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    env: Literal["development", "production"] = "development"
    log_level: str = "INFO"

    # Request limits (bad input never reaches the parser unbounded).
    max_body_bytes: int = 10 * 1024 * 1024
    max_json_depth: int = 64
    max_array_length: int = 10_000
    max_bundle_entries: int = 5_000

    # Search result control (R4 search.html#count).
    search_default_count: int = 50
    search_max_count: int = 1000
    search_max_includes: int = 1000
    # Secret that signs paging cursors; derived per database when empty.
    cursor_secret: str = ""

    # Authorization (docs/authorization.md).
    trusted_issuers: str = "[]"
    clients_file: Path | None = None
    dev_issuer: bool | None = None  # None: on in development, off in production
    treatment_relation_url: str | None = None
    custody_registry_url: str | None = None
    external_timeout_seconds: float = 3.0
    # Organisations whose records are evidence (docs/authorization.md, "Sources"): JSON
    # lists of SOR codes. Unset: the demo's registry feeds in development, none in production.
    relation_authorities: str | None = None
    custody_authorities: str | None = None

    # Subscriptions (docs/events.md): hosts notifications may go to (a JSON list; loopback
    # is allowed too in development), retries, and who delivers.
    subscription_endpoint_hosts: str = "[]"
    subscription_retry_hours: float = 24.0
    subscription_retry_base_seconds: float = 1.0
    subscription_lease_seconds: float = 60.0
    delivery_poll_seconds: float = 1.0
    delivery_in_serve: bool | None = None  # None: on in development, off in production

    # Bulk Data $export (docs/bulk.md): where the files go (default: next to the SQLite
    # database, ./var/exports), how long a job and its files are kept, and the worker's
    # lease and poll. The export worker runs where the delivery worker runs.
    export_dir: Path = Path("./var/exports")
    export_retention_hours: float = 24.0
    export_lease_seconds: float = 60.0
    export_poll_seconds: float = 1.0
    export_page_size: int = 500

    # Citizen portal sessions.
    session_secret: str = ""
    session_cookie_secure: bool = True
    session_max_age_seconds: int = 30 * 60

    # The HTTP edge (docs/architecture.md, "The HTTP edge").
    max_request_line_bytes: int = 16 * 1024  # longer request lines get 414
    max_header_bytes: int = 32 * 1024  # longer header sections get 431
    # Origins whose browser apps may call /fhir and /auth (CORS); none by default.
    # A JSON list or a comma-separated list; "*" allows any origin (never with credentials).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_allow_credentials: bool = False
    docs: bool | None = None  # /docs, /redoc, /openapi.json; None: on in development only

    # Rate limits, shared by all nodes through the database (docs/authorization.md).
    rate_limit_window_seconds: int = 60
    token_rate_limit: int = 30  # token requests per client and per address per window; 0: off
    auth_failure_limit: int = 100  # failed authentications per client and per address; 0: off

    # Profiles and terminology served read-only.
    profiles_dir: Path = Field(default=Path(__file__).resolve().parent.parent / "fhir_profiles")

    @field_validator("base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _default_base_url(self) -> Settings:
        """Links, `Location` and the token endpoint follow ESP_HOST/ESP_PORT unless set.

        A wildcard listening address is no address to link to: loopback is used instead.
        """
        if not self.base_url:
            host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104
            host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
            self.base_url = f"http://{host}:{self.port}/fhir"
        return self

    @field_validator("relation_authorities", "custody_authorities")
    @classmethod
    def _sor_list(cls, value: str | None) -> str | None:
        if value is not None:
            _parse_sor_list(value)
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: object) -> object:
        """`["https://a.dk"]` or `https://a.dk, https://b.dk`."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [origin.strip() for origin in text.split(",") if origin.strip()]

    @property
    def docs_enabled(self) -> bool:
        return self.env == "development" if self.docs is None else self.docs

    @field_validator("subscription_endpoint_hosts")
    @classmethod
    def _host_list(cls, value: str) -> str:
        _parse_host_list(value)
        return value

    @property
    def subscription_hosts(self) -> frozenset[str]:
        return frozenset(_parse_host_list(self.subscription_endpoint_hosts))

    @property
    def delivers_in_serve(self) -> bool:
        """`serve` runs the delivery and export workers too (production runs
        `esp-careplans deliver` and `esp-careplans export-worker`)."""
        if self.delivery_in_serve is None:
            return self.env == "development"
        return self.delivery_in_serve

    @property
    def dev_issuer_enabled(self) -> bool:
        return self.env == "development" if self.dev_issuer is None else self.dev_issuer

    @property
    def relation_authority_sors(self) -> frozenset[str]:
        """ESP_RELATION_AUTHORITIES: who records treatment relations (contact feed, GP list)."""
        return self._authorities(
            self.relation_authorities, (DEMO_CPR_REGISTRY_SOR, DEMO_CONTACT_FEED_SOR)
        )

    @property
    def custody_authority_sors(self) -> frozenset[str]:
        """ESP_CUSTODY_AUTHORITIES: who records custody (the CPR registry feed)."""
        return self._authorities(self.custody_authorities, (DEMO_CPR_REGISTRY_SOR,))

    def _authorities(self, value: str | None, demo: tuple[str, ...]) -> frozenset[str]:
        if value is not None:
            return frozenset(_parse_sor_list(value))
        return frozenset(demo) if self.env == "development" else frozenset()


def _parse_host_list(value: str) -> list[str]:
    """A JSON list of host names (lower case, no scheme or port); ValueError otherwise."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"must be a JSON list of host names: {exc}") from None
    if not isinstance(parsed, list) or not all(
        isinstance(v, str) and v and v == v.lower() and not set(v) & set(":/ @") for v in parsed
    ):
        raise ValueError('must be a JSON list of lower-case host names, e.g. ["omsorg.horsens.dk"]')
    return parsed


def _parse_sor_list(value: str) -> list[str]:
    """A JSON list of SOR codes (1-18 digits); ValueError otherwise (startup fails)."""
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"must be a JSON list of SOR codes: {exc}") from None
    if not isinstance(parsed, list) or not all(
        isinstance(v, str) and _SOR.fullmatch(v) for v in parsed
    ):
        raise ValueError('must be a JSON list of SOR codes, e.g. ["6039191000016002"]')
    return parsed


@lru_cache
def get_settings() -> Settings:
    return Settings()

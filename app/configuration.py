"""The README's configuration table, generated from the settings classes.

Every field of `Settings` (`ESP_*`) and of the portal's `OidcSettings` (`ESP_OIDC_*`)
has a row here; its default comes from the field itself unless the default is derived
(then `shown` says how). tests/test_readme.py fails when a setting has no row or the
README's table differs: `python -m app.configuration` rewrites it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from app.portal.config import OidcSettings
from app.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- configuration table: python -m app.configuration -->"
END = "<!-- end of the configuration table -->"


@dataclass(frozen=True, slots=True)
class Row:
    meaning: str
    shown: str | None = None  # the default as a reader should read it, when derived


DEV_ON = "development: on; production: off"
SOURCES = "docs/authorization.md#sources-where-an-organisations-access-comes-from"
SETTINGS: dict[str, Row] = {
    "database_url": Row("SQLite (embedded default) or `postgresql://…` (production; psycopg 3)"),
    "base_url": Row(
        "Public FHIR base URL: links, `Location`, the token endpoint and the token audience",
        "`http://ESP_HOST:ESP_PORT/fhir` (loopback for a wildcard host)",
    ),
    "host": Row("Where `esp-careplans serve` listens (`serve --host` sets it too)"),
    "port": Row("The port `esp-careplans serve` listens on (`serve --port` sets it too)"),
    "workers": Row("Server processes (stateless; scale out over one PostgreSQL)"),
    "env": Row(
        "`development` or `production`; the embedded token issuer runs only in development; "
        "production refuses to start unless `ESP_BASE_URL` is https"
    ),
    "log_level": Row(
        "Structured JSON logs with a request id; no CPR numbers, bodies, SQL parameters or "
        "database error messages"
    ),
    "max_body_bytes": Row("Larger request bodies get 413"),
    "max_json_depth": Row("Deeper request JSON gets 400"),
    "max_array_length": Row("Longer JSON arrays in a request get 400"),
    "max_bundle_entries": Row("Batch and transaction Bundles with more entries get 413"),
    "search_default_count": Row("Page size of a search without `_count`"),
    "search_max_count": Row("The largest `_count` honoured"),
    "search_max_includes": Row("The most `_include`/`_revinclude` resources per page"),
    "cursor_secret": Row(
        "Signs paging cursors; when empty a secret is generated and kept in the database",
        "generated per database",
    ),
    "trusted_issuers": Row(
        'JSON list of `{"issuer", "jwks_uri"}` or `{"issuer", "jwks_file"}` whose tokens '
        "are accepted (docs/authorization.md)"
    ),
    "clients_file": Row(
        "Registered clients of the embedded issuer: backend services and SMART apps; "
        "example: [examples/clients.json](examples/clients.json)"
    ),
    "dev_issuer": Row("The embedded development token issuer at `/auth` (`true`/`false`)", DEV_ON),
    "treatment_relation_url": Row(
        "External treatment-relation service (docs/authorization.md); unset: none"
    ),
    "custody_registry_url": Row("External custody registry (docs/authorization.md); unset: none"),
    "external_timeout_seconds": Row(
        "Timeout of calls to the external registries, issuers' JWKS and subscription endpoints"
    ),
    "relation_authorities": Row(
        "JSON list of SOR codes whose records count as treatment relations (contact feed, GP "
        f"list); see [docs/authorization.md]({SOURCES})",
        "development: the demo's registry feeds; production: `[]`",
    ),
    "custody_authorities": Row(
        "JSON list of SOR codes whose records count as custody (the CPR registry feed)",
        "development: the demo's CPR registry feed; production: `[]`",
    ),
    "subscription_endpoint_hosts": Row(
        "JSON list of host names Subscriptions may notify (https; loopback too in "
        "development); see [docs/events.md](docs/events.md)"
    ),
    "subscription_retry_hours": Row("How long a failing notification is retried"),
    "subscription_retry_base_seconds": Row("First retry delay (then exponential)"),
    "subscription_lease_seconds": Row("How long a delivery worker holds a notification"),
    "delivery_poll_seconds": Row("How often an idle delivery worker looks for work"),
    "delivery_in_serve": Row(
        "`serve` delivers notifications and runs Bulk Data export jobs too (production runs "
        "`esp-careplans deliver` and `esp-careplans export-worker`)",
        DEV_ON,
    ),
    "export_dir": Row(
        "Where Bulk Data `$export` files are written, a directory per job "
        "(docs/bulk.md; shared by all nodes in a cluster)"
    ),
    "export_retention_hours": Row(
        "How long a finished export job and its files are kept; then the worker deletes them"
    ),
    "export_lease_seconds": Row("How long an export worker holds a job without renewing"),
    "export_poll_seconds": Row("How often an idle export worker looks for jobs"),
    "export_page_size": Row("Resources an export job reads per page"),
    "session_secret": Row(
        "Keys the hash under which portal session ids are stored (HMAC); empty: plain SHA-256"
    ),
    "session_cookie_secure": Row("The portal's cookie is `Secure` (`make run` sets `false`)"),
    "session_max_age_seconds": Row("Citizen portal session lifetime"),
    "max_request_line_bytes": Row("Longer request lines get 414 (with an OperationOutcome)"),
    "max_header_bytes": Row("Longer header sections get 431 (with an OperationOutcome)"),
    "cors_origins": Row(
        "Origins whose browser apps may call `/fhir` and `/auth`: a JSON list or a comma "
        "list (`*`: any origin)",
        "none",
    ),
    "cors_allow_credentials": Row(
        "Let the listed origins send cookies (bearer tokens need no credentials); never with `*`"
    ),
    "docs": Row("The API explorer `/docs`, `/redoc` and `/openapi.json` (`true`/`false`)", DEV_ON),
    "rate_limit_window_seconds": Row("The window of the rate limits below"),
    "token_rate_limit": Row(
        "Token requests per client and per address per window; beyond it 429 with "
        "`Retry-After` (0: off)"
    ),
    "auth_failure_limit": Row(
        "Failed authentications per client and per address per window; beyond it 429 (0: off)"
    ),
    "profiles_dir": Row(
        "The profiles and terminology served read-only", "`fhir_profiles/` of the checkout"
    ),
}
OIDC: dict[str, Row] = {
    "issuer": Row("The citizen IdP the portal signs in with in production (docs/portal.md)"),
    "metadata_url": Row(
        "The IdP's discovery document", "`<ESP_OIDC_ISSUER>/.well-known/openid-configuration`"
    ),
    "client_id": Row("The portal's client at the IdP"),
    "client_secret": Row("Its secret (`client_secret_basic`); empty: a public client"),
    "redirect_uri": Row("The callback registered at the IdP, `…/portal/login/callback`"),
    "scope": Row("The scopes the portal asks the IdP for"),
}


def _default(field: FieldInfo) -> str:
    value = field.default if field.default_factory is None else field.default_factory()  # type: ignore[call-arg]
    if value is PydanticUndefined or value is None or value in ("", []):
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and value >= 1024 and value % 1024 == 0:
        for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
            if value % size == 0:
                return f"{value // size} {unit}"
    return f"`{value}`"


def _rows(settings: type[BaseSettings], rows: dict[str, Row]) -> list[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    lines = []
    for name, field in settings.model_fields.items():
        row = rows[name]
        default = row.shown or _default(field)
        lines.append(f"| `{prefix}{name.upper()}` | {default} | {row.meaning} |")
    return lines


def table() -> str:
    """The configuration table in Markdown (KeyError names a setting without a row)."""
    header = ["| Variable | Default | Meaning |", "|---|---|---|"]
    return "\n".join(header + _rows(Settings, SETTINGS) + _rows(OidcSettings, OIDC))


def readme_with_table(readme: str) -> str:
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + table() + "\n" + readme[end:]


def main() -> int:
    README.write_text(readme_with_table(README.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

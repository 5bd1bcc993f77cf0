"""What we advertise about authorization: SMART discovery and CapabilityStatement security.

SMART App Launch v2 conformance.html#using-well-known (`.well-known/smart-configuration`)
and the R4 CapabilityStatement `rest.security` with the SMART `oauth-uris` extension.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.auth.assertions import ASSERTION_ALGORITHMS

# Only backend services: no authorize endpoint, so no launch-*/sso capabilities.
SMART_CAPABILITIES: tuple[str, ...] = (
    "client-confidential-asymmetric",
    "permission-v1",
    "permission-v2",
)
DEFAULT_SCOPES_SUPPORTED: tuple[str, ...] = (
    "system/*.cruds",
    "system/*.rs",
    "user/*.cruds",
    "user/*.rs",
    "patient/*.rs",
)
SECURITY_SERVICE_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def smart_configuration(
    *,
    issuer: str,
    token_endpoint: str,
    jwks_uri: str | None = None,
    scopes_supported: Sequence[str] = DEFAULT_SCOPES_SUPPORTED,
) -> dict[str, Any]:
    """The `.well-known/smart-configuration` document for a backend-services-only server."""
    config: dict[str, Any] = {"issuer": issuer}
    if jwks_uri:
        config["jwks_uri"] = jwks_uri
    config |= {
        "token_endpoint": token_endpoint,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": list(scopes_supported),
        "capabilities": list(SMART_CAPABILITIES),
    }
    return config


def capability_security(token_endpoint: str | None) -> dict[str, Any]:
    """The CapabilityStatement `rest.security` fragment (SMART-on-FHIR, oauth-uris `token`).

    There is no `authorize` URI: this server offers no user-facing authorization
    flow; user tokens come from a trusted external issuer.
    """
    security: dict[str, Any] = {
        "service": [
            {
                "coding": [{"system": SECURITY_SERVICE_SYSTEM, "code": "SMART-on-FHIR"}],
                "text": "OAuth2 bearer tokens (SMART App Launch v2, Backend Services)",
            }
        ],
        "description": (
            "Send 'Authorization: Bearer <JWT access token>' from a trusted issuer. "
            "See .well-known/smart-configuration and docs/authorization.md."
        ),
    }
    if token_endpoint:
        security["extension"] = [
            {"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_endpoint}]}
        ]
    return security

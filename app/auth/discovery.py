"""What we advertise about authorization: SMART discovery and CapabilityStatement security.

SMART App Launch 2.2 conformance.html (`.well-known/smart-configuration`) and the R4
CapabilityStatement `rest.security` with the SMART `oauth-uris` extension. Only what
works is advertised: the launch capabilities appear only with an authorization endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.auth.assertions import ASSERTION_ALGORITHMS

BACKEND_CAPABILITIES: tuple[str, ...] = (
    "client-confidential-asymmetric",
    "permission-v1",
    "permission-v2",
)
# With the authorization endpoint: the standalone patient launch (app/auth/app_launch.py).
LAUNCH_CAPABILITIES: tuple[str, ...] = (
    "launch-standalone",
    "context-standalone-patient",
    "authorize-post",
    "client-public",
    "sso-openid-connect",
    "permission-offline",
    "permission-online",
    "permission-patient",
)
DEFAULT_SCOPES_SUPPORTED: tuple[str, ...] = (
    "system/*.cruds",
    "system/*.rs",
    "user/*.cruds",
    "user/*.rs",
    "patient/*.rs",
)
LAUNCH_SCOPES_SUPPORTED: tuple[str, ...] = (
    "patient/Consent.cud",
    "openid",
    "fhirUser",
    "launch/patient",
    "offline_access",
    "online_access",
)
SECURITY_SERVICE_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def smart_configuration(
    *,
    issuer: str,
    token_endpoint: str,
    jwks_uri: str | None = None,
    scopes_supported: Sequence[str] = DEFAULT_SCOPES_SUPPORTED,
    authorization_endpoint: str | None = None,
) -> dict[str, Any]:
    """The `.well-known/smart-configuration` document."""
    launch = authorization_endpoint is not None
    config: dict[str, Any] = {"issuer": issuer}
    if jwks_uri:
        config["jwks_uri"] = jwks_uri
    if launch:
        config["authorization_endpoint"] = authorization_endpoint
    config |= {
        "token_endpoint": token_endpoint,
        "token_endpoint_auth_methods_supported": (
            ["private_key_jwt", "none"] if launch else ["private_key_jwt"]
        ),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "grant_types_supported": (
            ["authorization_code", "client_credentials", "refresh_token"]
            if launch
            else ["client_credentials"]
        ),
        "scopes_supported": list(scopes_supported)
        + (list(LAUNCH_SCOPES_SUPPORTED) if launch else []),
        "capabilities": list(BACKEND_CAPABILITIES) + (list(LAUNCH_CAPABILITIES) if launch else []),
    }
    if launch:
        config |= {
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        }
    return config


def capability_security(
    token_endpoint: str | None, authorization_endpoint: str | None = None
) -> dict[str, Any]:
    """The CapabilityStatement `rest.security` fragment (SMART-on-FHIR, oauth-uris)."""
    security: dict[str, Any] = {
        "service": [
            {
                "coding": [{"system": SECURITY_SERVICE_SYSTEM, "code": "SMART-on-FHIR"}],
                "text": "OAuth2 bearer tokens (SMART App Launch 2.2, Backend Services)",
            }
        ],
        "description": (
            "Send 'Authorization: Bearer <JWT access token>' from a trusted issuer. "
            "See .well-known/smart-configuration and docs/authorization.md."
        ),
    }
    uris = [("token", token_endpoint), ("authorize", authorization_endpoint)]
    if token_endpoint:
        security["extension"] = [
            {
                "url": OAUTH_URIS,
                "extension": [{"url": name, "valueUri": uri} for name, uri in uris if uri],
            }
        ]
    return security

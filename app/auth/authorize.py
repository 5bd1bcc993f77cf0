"""The authorization request of a SMART standalone launch (RFC 6749 §4.1.1, RFC 7636, SMART 2.2).

Checked in the order RFC 6749 §4.1.2.1 needs: until the client and its registered
redirect URI are known, an error is shown to the user (never redirected to an
unverified URI); after that, errors go back to the app as `error` parameters with
its `state`. PKCE is required with S256; `plain` is refused (SMART 2.2 app-launch).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.access.scopes import ScopeSet
from app.auth.clients import ClientRegistry, RegisteredClient

# RFC 7636 §4.1/§4.2: an S256 challenge is BASE64URL(SHA256(verifier)), 43 characters;
# the verifier is 43-128 unreserved characters.
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
MAX_PARAMETER = 2048


class AuthorizeError(Exception):
    """An RFC 6749 §4.1.2.1 error: redirected to the app when `redirect_uri` is trusted."""

    def __init__(
        self,
        error: str,
        description: str,
        redirect_uri: str | None = None,
        state: str | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state

    def location(self) -> str | None:
        """Where to send the user agent, or None: show the error instead."""
        if self.redirect_uri is None:
            return None
        answer = {"error": self.error, "error_description": self.description}
        return with_query(self.redirect_uri, answer, self.state)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked request: the client, where to answer, and what may be granted."""

    client: RegisteredClient
    redirect_uri: str
    redirect_uri_sent: bool
    state: str
    scope: ScopeSet  # requested ∩ registered (RFC 6749 §3.3)
    code_challenge: str
    nonce: str | None
    # The parameters as sent, carried through the login pages and checked again.
    query: str

    def deny(self, error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, self.redirect_uri, self.state)

    def code_location(self, code: str) -> str:
        return with_query(self.redirect_uri, {"code": code}, self.state)


def with_query(uri: str, params: dict[str, str], state: str | None) -> str:
    """`uri` with `params` (and `state`) added to its query (RFC 6749 §4.1.2)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += list(params.items()) + ([("state", state)] if state is not None else [])
    return urlunsplit(parts._replace(query=urlencode(query)))


def parse_authorization_request(
    items: Iterable[tuple[str, str]], clients: ClientRegistry, audience: str
) -> AuthorizationRequest:
    """Check an authorization request; `AuthorizeError` says where the error goes."""
    pairs = list(items)
    params: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name in params:
            repeated.add(name)
        params[name] = value

    # Before the redirect URI is trusted: nothing is sent back to it.
    client_id = params.get("client_id", "")
    client = clients.get(client_id) if "client_id" not in repeated else None
    if client is None or not client.is_app:
        raise AuthorizeError("invalid_request", "unknown client_id, or not an app client")
    if "redirect_uri" in repeated:
        raise AuthorizeError("invalid_request", "redirect_uri is repeated")
    sent = params.get("redirect_uri")
    if sent is None and len(client.redirect_uris) == 1:  # RFC 6749 §3.1.2.3
        redirect_uri = client.redirect_uris[0]
    elif sent in client.redirect_uris:  # exact string match (RFC 9700 §2.1)
        redirect_uri = sent
    else:
        raise AuthorizeError("invalid_request", "redirect_uri is not registered for this client")

    state = params.get("state")

    def deny(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, redirect_uri, state)

    if repeated:
        raise deny("invalid_request", f"repeated parameters: {', '.join(sorted(repeated))}")
    too_long = sorted(k for k, v in params.items() if len(v) > MAX_PARAMETER)
    if too_long:
        raise deny("invalid_request", f"parameters longer than {MAX_PARAMETER}: {too_long}")
    response_type = params.get("response_type")
    if response_type is None:
        raise deny("invalid_request", "response_type is required")
    if response_type != "code":
        raise deny("unsupported_response_type", "only response_type=code is supported")
    if not state:
        raise deny("invalid_request", "state is required (SMART App Launch)")
    if "launch" in params:
        raise deny("invalid_request", "EHR launch is not supported: use a standalone launch")
    if params.get("aud") != audience:  # SMART: aud names the FHIR server the token is for
        raise deny("invalid_request", f"aud must be this FHIR server's base URL {audience}")
    challenge = params.get("code_challenge")
    if not challenge:
        raise deny("invalid_request", "code_challenge is required (PKCE, RFC 7636)")
    if params.get("code_challenge_method") != "S256":  # absent means plain (RFC 7636 §4.3)
        raise deny("invalid_request", "code_challenge_method must be S256; plain is refused")
    if not _CHALLENGE.fullmatch(challenge):
        raise deny("invalid_request", "code_challenge is not a base64url SHA-256 digest")
    scope = client.grant(params.get("scope", ""))
    if not scope.scopes:
        raise deny("invalid_scope", "none of the requested resource scopes can be granted")
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        redirect_uri_sent=sent is not None,
        state=state,
        scope=scope,
        code_challenge=challenge,
        nonce=params.get("nonce") or None,
        query=urlencode(pairs),
    )


def verify_pkce(verifier: str, challenge: str) -> bool:
    """RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge."""
    if not _VERIFIER.fullmatch(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(computed, challenge)

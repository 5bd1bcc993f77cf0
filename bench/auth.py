"""Credentials for the service under test: the hook for a real bearer token.

In order: `--token-command 'CMD'` (its stdout is the access token), the BENCH_TOKEN
environment variable, then the development issuer (`POST /auth/dev-token`, only served
with ESP_ENV=development) for a system client. Without any of them no header is sent.
For a production-mode run, fill in `auth_headers()` (e.g. a SMART backend-services
client assertion against /auth/token) or pass a token command. It is called before
every workload, and a long preload asks again when its token is refused (`RenewingAuth`),
so a command that mints a fresh token keeps long runs inside the token lifetime (dev
tokens live an hour).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Generator

import httpx

TOKEN_ENV = "BENCH_TOKEN"
# A system client acting for a hospital of the synthetic data (bench/data.py, serial 1);
# docs/authorization.md, "User types".
DEV_CLAIMS = {
    "dk_user_type": "system",
    "sub": "esp-bench",
    "client_id": "esp-bench",
    "dk_org_sor": "6038011000016005",
    "dk_org_region": "DK-82",
    "scope": "system/*.cruds",
    "expires_in": 3600,
}


def dev_token(service_root: str) -> str:
    """A token from the development issuer ("" when the service has none: 404)."""
    response = httpx.post(
        f"{service_root}/auth/dev-token", json=DEV_CLAIMS, timeout=10, trust_env=False
    )
    if response.status_code == 404:
        return ""
    response.raise_for_status()
    return str(response.json()["access_token"])


def auth_headers(
    token_command: str | None = None, service_root: str | None = None
) -> dict[str, str]:
    """HTTP headers that authenticate the load generator ({} when none are configured)."""
    token = os.environ.get(TOKEN_ENV, "")
    if token_command:
        token = subprocess.run(
            shlex.split(token_command), check=True, capture_output=True, text=True, timeout=60
        ).stdout.strip()
    if not token and service_root:
        token = dev_token(service_root)
    return {"Authorization": f"Bearer {token}"} if token else {}


class RenewingAuth(httpx.Auth):
    """Sends the current credentials; on a 401 it asks for new ones and retries once.

    A preload of a million resources outlives any one token; asking again on refusal is what
    a real backend client does when its access token expires (SMART backend services).
    """

    def __init__(self, credentials: Callable[[], dict[str, str]]) -> None:
        self._credentials = credentials
        self._headers = credentials()
        self.renewals = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sent_with = self._headers
        request.headers.update(sent_with)
        response = yield request
        if response.status_code != 401:
            return
        if self._headers is sent_with:  # the first refused request renews for all in flight
            self._headers = self._credentials()
            self.renewals += 1
        request.headers.update(self._headers)
        yield request

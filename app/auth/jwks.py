"""Where an issuer's public signing keys come from (RFC 7517 JWK Sets).

`JwksSource` is the port; `HttpJwks` (jwks_uri, fetched with httpx and cached),
`FileJwks` (a file on disk) and `StaticJwks` (in-process: the dev issuer and
tests) implement it and pass one contract test (tests/auth/test_jwks.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet, RSAKey, import_key

# JWS algorithm -> JWK key type and curve (RFC 7518 §3.1, §3.4).
KEY_TYPES: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
}
log = logging.getLogger(__name__)
MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class JwksUnavailable(Exception):
    """The keys cannot be obtained now (network, HTTP status, bad document): answered 503."""


class JwksSource(Protocol):
    """A set of public signature keys that can be re-read when a `kid` is unknown."""

    async def keys(self, *, refresh: bool = False) -> KeySet:
        """The current keys; `refresh` asks for a re-read (sources may rate-limit it)."""
        ...


def public_keyset(document: object, *, allow_private: bool = True) -> KeySet:
    """Import a JWKS document, keeping only public RSA/EC signature keys (RFC 7517 §5).

    Private members are dropped (or refused with `allow_private=False`); symmetric
    and encryption keys are skipped so they can never verify a token.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError('a JWKS is a JSON object with a "keys" array')
    keys: list[Key] = []
    for entry in document["keys"]:
        if not isinstance(entry, Mapping):
            raise ValueError("each JWK is a JSON object")
        if entry.get("kty") not in ("RSA", "EC") or entry.get("use", "sig") != "sig":
            continue
        if not allow_private and _PRIVATE_MEMBERS & set(entry):
            raise ValueError(f"JWK {entry.get('kid')!r} contains private key material")
        public = {k: v for k, v in entry.items() if k not in _PRIVATE_MEMBERS}
        key = import_key(public)
        if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
            continue  # RFC 7518 §3.3: 2048 bits or larger
        keys.append(key)
    if not keys:
        raise ValueError("the JWKS holds no RSA or EC signature key")
    return KeySet(keys)


def select_key(keys: KeySet, alg: str, kid: str | None) -> Key | None:
    """The key for a JWS header: matching `kid`, key type, curve, `use` and `alg` (RFC 7515 §4.1.4).

    Without a `kid` the set must hold exactly one suitable key: no guessing.
    """
    kty, curve = KEY_TYPES.get(alg, (None, None))
    suitable = [
        key
        for key in keys
        if key.key_type == kty
        and (curve is None or key.get("crv") == curve)
        and key.get("use") in (None, "sig")
        and key.get("alg") in (None, alg)
    ]
    if kid is None:
        return suitable[0] if len(suitable) == 1 else None
    return next((key for key in suitable if key.kid == kid), None)


class StaticJwks:
    """Keys held in memory: the dev issuer's own key, and the fake for tests."""

    def __init__(self, keys: KeySet | Mapping[str, Any]) -> None:
        self._keys = keys if isinstance(keys, KeySet) else public_keyset(keys)
        self.refreshes = 0

    def replace(self, keys: KeySet | Mapping[str, Any]) -> None:
        """Rotate the keys (tests of unknown `kid`)."""
        self._keys = keys if isinstance(keys, KeySet) else public_keyset(keys)

    async def keys(self, *, refresh: bool = False) -> KeySet:
        if refresh:
            self.refreshes += 1
        return self._keys


class FileJwks:
    """Keys read from a JWKS file; re-read on refresh, last good keys kept if it breaks."""

    def __init__(
        self,
        path: Path,
        *,
        min_refresh_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._min_interval = min_refresh_interval
        self._clock = clock
        self._keys: KeySet | None = None
        self._read_at = 0.0
        self.refreshes = 0

    async def keys(self, *, refresh: bool = False) -> KeySet:
        if self._keys is not None and (
            not refresh or self._clock() - self._read_at < self._min_interval
        ):
            return self._keys
        if refresh:
            self.refreshes += 1
        self._read_at = self._clock()
        try:
            self._keys = public_keyset(json.loads(self.path.read_bytes()))
        except (OSError, ValueError, JoseError) as exc:
            if self._keys is None:
                raise JwksUnavailable(f"cannot read JWKS file {self.path}: {exc}") from exc
        return self._keys


class HttpJwks:
    """Keys fetched from a `jwks_uri` with httpx, cached, refetched at most every interval.

    A refresh (unknown `kid`) refetches only if the last attempt is older than
    `min_refetch_interval`, so forged `kid`s cannot make us hammer the issuer.
    When a fetch fails the last good keys are kept; with none, `JwksUnavailable`.
    """

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        timeout: float = 3.0,
        max_age: float = 3600.0,
        min_refetch_interval: float = 30.0,
        failure_backoff: float = 5.0,
        max_bytes: int = 256 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = client
        self._timeout = timeout
        self._max_age = max_age
        self._min_interval = min_refetch_interval
        self._failure_backoff = failure_backoff
        self._max_bytes = max_bytes
        self._clock = clock
        self._lock = asyncio.Lock()
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._failed = False
        self.fetches = 0

    async def keys(self, *, refresh: bool = False) -> KeySet:
        if self._keys is not None and not refresh and not self._stale():
            return self._keys
        async with self._lock:
            now = self._clock()
            if self._attempted_at is not None:
                waited = now - self._attempted_at
                if self._keys is not None and waited < self._min_interval:
                    return self._keys  # fetched (or tried) moments ago: no new request
                if self._keys is None and self._failed and waited < self._failure_backoff:
                    raise JwksUnavailable(f"JWKS {self.url} failed moments ago")
            self._attempted_at = now
            try:
                keys = await self._fetch()
            except JwksUnavailable as exc:
                log.warning("%s (cached keys: %s)", exc, "kept" if self._keys else "none")
                self._failed = True
                if self._keys is not None:
                    return self._keys
                raise
            self._failed = False
            self._keys, self._fetched_at = keys, now
            return keys

    def _stale(self) -> bool:
        return self._clock() - self._fetched_at >= self._max_age

    async def _fetch(self) -> KeySet:
        self.fetches += 1
        body = bytearray()
        try:
            async with self._client.stream(
                "GET", self.url, headers={"Accept": "application/json"}, timeout=self._timeout
            ) as response:
                if response.status_code != 200:
                    raise JwksUnavailable(f"JWKS {self.url} answered HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise JwksUnavailable(f"JWKS {self.url} is larger than {self._max_bytes} B")
        except httpx.HTTPError as exc:
            raise JwksUnavailable(f"JWKS {self.url} unreachable: {type(exc).__name__}") from exc
        try:
            return public_keyset(json.loads(body))
        except (ValueError, JoseError) as exc:
            raise JwksUnavailable(f"JWKS {self.url} is not a usable JWK Set: {exc}") from exc

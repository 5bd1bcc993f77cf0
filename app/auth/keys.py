"""The development issuer's signing key, shared by worker processes through a file.

Created once with an atomic create-if-absent (write a private temp file, then
`os.link` it into place: link fails if another process won the race), so all
workers sign with, and publish, the same key (RFC 7517 private JWK, mode 0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Literal

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, KeyParameters, RSAKey, import_key

from app.auth.errors import ConfigError

SigningAlg = Literal["ES384", "RS384"]
DEFAULT_KEY_PATH = Path("var/dev-issuer-key.json")


def generate_signing_key(alg: SigningAlg = "ES384") -> Key:
    """A fresh private key for `alg`, with `kid` (RFC 7638 thumbprint), `alg` and `use`."""
    params: KeyParameters = {"alg": alg, "use": "sig"}
    key: Key
    if alg == "ES384":
        key = ECKey.generate_key("P-384", parameters=params, auto_kid=True)
    else:
        key = RSAKey.generate_key(3072, parameters=params, auto_kid=True)
    return key


def load_or_create_signing_key(path: Path = DEFAULT_KEY_PATH, alg: SigningAlg = "ES384") -> Key:
    """The private key at `path`, created there first if missing (safe across processes)."""
    if not path.exists():
        _create(path, generate_signing_key(alg))
    try:
        document = json.loads(path.read_bytes())
        if not isinstance(document, dict) or document.get("kty") not in ("EC", "RSA"):
            raise ValueError("not an EC or RSA JWK")
        key = import_key(document)
    except (OSError, ValueError, JoseError) as exc:
        raise ConfigError(f"dev issuer key {path} is unreadable: {exc}") from exc
    if not key.is_private or key.get("alg") not in ("ES384", "RS384"):
        raise ConfigError(f"dev issuer key {path} must be a private ES384 or RS384 JWK")
    key.ensure_kid()
    return key


def _create(path: Path, key: Key) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = json.dumps(key.as_dict(private=True)).encode()
    fd, tmp = tempfile.mkstemp(prefix=".dev-issuer-key-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(document)
            file.flush()
            os.fsync(file.fileno())
        # Atomic: fails if the file appeared meanwhile; then another worker won, use theirs.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)

"""Real server processes (`esp-careplans serve`) for multi-process and client-library tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.tokens import HOSPITAL_SOR, TokenFactory, bearer

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningServer:
    """A server process: its FHIR base URL and an issuer it trusts."""

    base: str
    tokens: TokenFactory
    pid: int = 0  # the `esp-careplans serve` process (its workers are its children)

    def system_headers(
        self, sor: str = HOSPITAL_SOR, scopes: str = "system/*.cruds"
    ) -> dict[str, str]:
        return bearer(self.tokens.system(sor=sor, scopes=scopes))


@contextmanager
def running_server(
    database_url: str,
    *,
    workers: int = 2,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    port: int | None = None,
) -> Iterator[RunningServer]:
    """Start the production command on a (free) loopback port, trusting a test issuer."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    tokens = TokenFactory(f"{base}/fhir")
    jwks_dir = tempfile.mkdtemp(prefix="esp-jwks-")
    environment = {
        **os.environ,
        "ESP_DATABASE_URL": database_url,
        "ESP_BASE_URL": f"{base}/fhir",
        "ESP_HOST": "127.0.0.1",
        "ESP_PORT": str(port),
        "ESP_WORKERS": str(workers),
        "ESP_LOG_LEVEL": "WARNING",
        "ESP_TRUSTED_ISSUERS": tokens.trusted_issuers_json(Path(jwks_dir) / "jwks.json"),
        **(env or {}),
    }
    log = open(log_path or os.devnull, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env=environment,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    try:
        _wait_ready(base, process)
        yield RunningServer(f"{base}/fhir", tokens, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    """Wait for /readyz; a loaded 2-core machine can take a minute to start two workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become ready")

"""Test-only node projects (package.json + package-lock.json), installed with `npm ci`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.databases import in_ci


def ensure_npm_ci(project: Path, installed: Path) -> None:
    """`npm ci` the project's locked packages from the npm registry when `installed` (a file
    of one of them) is missing; without node/npm the test skips (fails with CI=true)."""
    if installed.exists():
        return
    npm = shutil.which("npm")
    if npm is not None:
        command = [npm, "ci", "--no-audit", "--no-fund"]
        subprocess.run(command, cwd=project, check=False, timeout=300)
    if not installed.exists():
        message = f"{installed.name} is missing: run `npm ci` in {project} (needs node/npm)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

"""`esp-careplans load`: a Bundle, and NDJSON streamed in chunked transactions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.loader import load_bundle
from app.settings import Settings
from tests.support.resources import careplan, patient, unique_cpr


def _total(settings: Settings, resource_type: str) -> int:
    """Counted as a trusted internal caller: loaded data has no treatment relation yet."""
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": f"{resource_type}?_summary=count"}}],
    }
    response = asyncio.run(load_bundle(settings, batch))
    return int(response["entry"][0]["resource"]["total"])


def test_ndjson_loads_in_chunks(
    client: TestClient, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [json.dumps({**patient(unique_cpr()), "id": f"p{i}"}) for i in range(23)]
    lines += [json.dumps({**careplan(f"Patient/p{i}"), "id": f"c{i}"}) for i in range(23)]
    path = tmp_path / "resources.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr("app.cli.get_settings", lambda: settings)
    assert main(["load", str(path), "--chunk", "10"]) == 0
    assert _total(settings, "Patient") == 23
    assert _total(settings, "CarePlan") == 23


def test_a_bad_line_fails_only_its_own_chunk(
    client: TestClient, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = [json.dumps({**patient(unique_cpr()), "id": f"q{i}"}) for i in range(5)]
    path = tmp_path / "bad.ndjson"
    path.write_text("\n".join([*good, "{not json", *good]) + "\n", encoding="utf-8")
    monkeypatch.setattr("app.cli.get_settings", lambda: settings)
    assert main(["load", str(path), "--chunk", "5"]) == 1
    assert _total(settings, "Patient") == 5  # the first chunk committed; nothing after the bad line

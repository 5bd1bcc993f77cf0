"""Settings that follow from others: the base URL from where `serve` listens (#16 part 5)."""

from __future__ import annotations

import pytest

from app import cli
from app.settings import Settings, get_settings

LISTEN = ("ESP_HOST", "ESP_PORT", "ESP_BASE_URL")


def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the listen settings; monkeypatch restores them (and removes what `serve` set)."""
    for name in LISTEN:
        monkeypatch.setenv(name, "recorded")
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("env", "base_url"),
    [
        ({}, "http://127.0.0.1:8080/fhir"),
        ({"ESP_PORT": "9123"}, "http://127.0.0.1:9123/fhir"),
        ({"ESP_HOST": "localhost", "ESP_PORT": "81"}, "http://localhost:81/fhir"),
        ({"ESP_HOST": "0.0.0.0"}, "http://127.0.0.1:8080/fhir"),  # a wildcard: loopback
        ({"ESP_HOST": "::"}, "http://[::1]:8080/fhir"),
        ({"ESP_HOST": "fd00::5"}, "http://[fd00::5]:8080/fhir"),
        ({"ESP_PORT": "9123", "ESP_BASE_URL": "https://esp.example.dk/fhir/"}, None),
    ],
)
def test_the_base_url_defaults_from_host_and_port(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], base_url: str | None
) -> None:
    unset(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().base_url == (base_url or "https://esp.example.dk/fhir")


def test_serve_port_and_host_options_reach_the_workers_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`serve --port 9124` is ESP_PORT=9124 for the workers (they build their own settings)."""
    unset(monkeypatch)
    seen: dict[str, object] = {}
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **kw: seen.update(kw))
    get_settings.cache_clear()
    args = cli.argparse.Namespace(migrate=False, host="127.0.0.2", port=9124, workers=None)
    try:
        cli.cmd_serve(args, get_settings())
        assert (seen["host"], seen["port"]) == ("127.0.0.2", 9124)
        assert get_settings().base_url == "http://127.0.0.2:9124/fhir"
    finally:
        get_settings.cache_clear()

"""The README's commands, read from the README and run against a started server (#16 part 5).

As `make run` does: an empty database (SQLite and PostgreSQL), `esp-careplans load
--demo`, then `serve`, with only `ESP_PORT` set (no `ESP_BASE_URL`), so the commands run
with the README's `127.0.0.1:8080` replaced by that port, and every URL the server hands
out must name it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey

from app.demo.personas import PERSONAS
from tests.support.databases import truncate_all
from tests.support.resources import patient, unique_cpr
from tests.support.servers import ROOT, free_port, running_server
from tests.test_readme import README, shell_blocks

pytestmark = pytest.mark.slow
README_ORIGIN = "http://127.0.0.1:8080"
REFUSED = {"kirsten-gitte", "anders-ali"}  # the README's "refusal" personas
REHABILITATION_PLANS = 3


class Served:
    def __init__(self, port: int, load_output: subprocess.CompletedProcess[str], log: Path) -> None:
        self.port = port
        self.log = log
        self.origin = f"http://127.0.0.1:{port}"
        self.load = load_output

    def sh(self, script: str) -> str:
        """Run README shell lines with its origin replaced by ours; their stdout."""
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script.replace(README_ORIGIN, self.origin)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (script, done.stderr)
        return done.stdout


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """On SQLite and on PostgreSQL (`make run` works the same on both), emptied first."""
    folder = tmp_path_factory.mktemp("readme")
    url = database_url
    truncate_all(url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESP_")}
    env.update({"ESP_DATABASE_URL": url, "ESP_PORT": str(port), "ESP_ENV": "development"})
    loaded = subprocess.run(
        [sys.executable, "-m", "app.cli", "load", "--demo", "--if-empty"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    settings = {
        "ESP_BASE_URL": "",  # unset: it follows ESP_PORT
        "ESP_ENV": "development",
        "ESP_CLIENTS_FILE": str(ROOT / "examples" / "clients.json"),
    }
    log = folder / "serve.log"
    with running_server(url, workers=1, port=port, env=settings, log_path=log):
        yield Served(port, loaded, log)


def test_the_demo_load_says_what_it_did_without_warnings(served: Served) -> None:
    assert re.fullmatch(r"demo data loaded: \d+ resources in \d+ bundles\n", served.load.stdout), (
        served.load.stdout
    )
    assert served.load.stderr == ""  # no deprecation warning or anything else


def after_make_run() -> list[str]:
    block = next(b for b in shell_blocks(README) if "/fhir/metadata" in b)
    return [line for line in block.splitlines() if line.strip()]


def test_the_curl_lines_after_make_run(served: Served) -> None:
    curls = [line for line in after_make_run() if line.startswith("curl ")]
    assert len(curls) == 3
    for line in curls:
        if "/dev/notifications" in line:
            continue
        assert isinstance(json.loads(served.sh(line)), dict), line
    metadata = json.loads(served.sh(curls[0]))
    assert metadata["resourceType"] == "CapabilityStatement"
    smart = json.loads(served.sh(curls[1]))
    assert smart["token_endpoint"] == f"{served.origin}/auth/token"  # ESP_PORT alone


def test_the_demo_subscription_line(served: Served) -> None:
    """`/dev/notifications` shows Horsens Kommune's subscription receiving its plans: the
    demo was loaded before `serve` started (as `make run` does), and serve's delivery
    worker (development) sends the handshake and one notification per rehabilitation plan
    (Nancy's, the example; Lars'; Rikke's: all address Horsens Kommune), docs/events.md."""
    line = next(line for line in after_make_run() if "/dev/notifications" in line)
    deadline = time.monotonic() + 60
    while True:
        received = json.loads(served.sh(line))["received"]
        foci = [f for r in received if r["type"] == "event-notification" for f in r["focus"]]
        if len(foci) >= REHABILITATION_PLANS or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert any(r["type"] == "handshake" for r in received)
    assert len(foci) == REHABILITATION_PLANS, received
    assert all(f.startswith(f"{served.origin}/fhir/CarePlan/") for f in foci)


def test_the_browser_lines_open_pages_that_answer(served: Served) -> None:
    pages = [line.split()[3] for line in after_make_run() if "-m webbrowser" in line]
    assert [p.removeprefix(README_ORIGIN) for p in pages] == ["/portal", "/docs"]
    for page in pages:
        answer = httpx.get(page.replace(README_ORIGIN, served.origin), follow_redirects=True)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")


def test_the_token_example_mints_and_uses_a_token(served: Served) -> None:
    block = next(b for b in shell_blocks(README) if "TOKEN=$(" in b)
    bundle = json.loads(served.sh(block))
    assert bundle["resourceType"] == "Bundle"
    plans = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan"]
    assert plans, "Kirsten sees Lars' plans"
    subjects = {p["subject"]["reference"] for p in plans}
    assert len(subjects) == 1  # one child's


def test_every_persona_of_the_table_gets_a_token_that_works(served: Served) -> None:
    for persona in PERSONAS:
        minted = httpx.post(f"{served.origin}/auth/dev-token", json=dict(persona.claims))
        assert minted.status_code == 200, (persona.key, minted.text)
        headers = {"Authorization": f"Bearer {minted.json()['access_token']}"}
        answer = httpx.get(
            f"{served.origin}/fhir/CarePlan", headers={**headers, **persona.extra_headers}
        )
        assert answer.status_code == (403 if persona.key in REFUSED else 200), persona.key


def test_links_and_location_follow_esp_port(served: Served) -> None:
    token = httpx.post(
        f"{served.origin}/auth/dev-token", json=dict(_persona("hospital-system").claims)
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{served.origin}/fhir/Patient", json=patient(unique_cpr()), headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"].startswith(f"{served.origin}/fhir/Patient/")
    found = httpx.get(f"{served.origin}/fhir/Patient?_count=1", headers=headers).json()
    assert {link["url"].split("/fhir/")[0] for link in found["link"]} == {served.origin}


def test_a_demo_system_from_the_example_clients_file_gets_a_token(served: Served) -> None:
    """The walkthrough of docs/authorization.md with examples/clients.json's demo key."""
    from joserfc import jwt

    client_id = "horsens-kommune-omsorg"
    key = ECKey.import_key(
        json.loads((ROOT / "examples" / "keys" / f"{client_id}.private.jwk.json").read_text())
    )
    smart = httpx.get(f"{served.origin}/fhir/.well-known/smart-configuration").json()
    now = int(time.time())
    assertion = jwt.encode(
        {"alg": "ES384", "kid": key.kid, "typ": "JWT"},
        {
            "iss": client_id,
            "sub": client_id,
            "aud": smart["token_endpoint"],
            "iat": now,
            "exp": now + 300,
            "jti": f"readme-{now}",
        },
        key,
        algorithms=["ES384"],
    )
    answer = httpx.post(
        smart["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "system/*.rs"
    plans = httpx.get(
        f"{served.origin}/fhir/CarePlan",
        headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
    )
    assert plans.status_code == 200
    assert plans.json()["entry"], "Horsens Kommune sees the rehabilitation plans addressed to it"


def test_the_dev_token_examples_of_the_authorization_doc(served: Served) -> None:
    text = (ROOT / "docs" / "authorization.md").read_text(encoding="utf-8")
    block = next(b for b in shell_blocks(text) if "/auth/dev-token" in b)
    output, minted = served.sh(block).strip(), []
    while output:  # curl -s prints the answers one after the other
        answer, end = json.JSONDecoder().raw_decode(output)
        minted.append(answer)
        output = output[end:].lstrip()
    assert len(minted) == block.count("curl ") == 2
    for answer in minted:
        token = answer["access_token"]
        found = httpx.get(
            f"{served.origin}/fhir/CarePlan", headers={"Authorization": f"Bearer {token}"}
        )
        assert found.status_code == 200


def _persona(key: str) -> Any:
    return next(p for p in PERSONAS if p.key == key)


def test_serve_printed_no_python_warning(served: Served) -> None:
    """Last in the module: everything above ran against this server."""
    printed = served.log.read_text(encoding="utf-8")
    assert "Warning:" not in printed, printed

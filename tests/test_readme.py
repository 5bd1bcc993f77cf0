"""The README and its examples say what the code does (#16 part 5); no server needed.

The commands themselves run against a started server in tests/rest/test_readme_commands.py.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as canonical

from app.auth.clients import ClientRegistry
from app.configuration import BEGIN, END, OIDC, SETTINGS, table
from app.demo.organisations import ORGANISATIONS
from app.demo.personas import PERSONAS
from app.portal.config import OidcSettings
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = ROOT / "examples"
DEMO_SORS = {org.sor: org for org in ORGANISATIONS}


def shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```(?:sh|bash)\n(.*?)```", markdown, flags=re.S)


def test_every_setting_has_a_row_in_the_configuration_table() -> None:
    assert set(SETTINGS) == set(Settings.model_fields), "add the setting to app/configuration.py"
    assert set(OIDC) == set(OidcSettings.model_fields)


def test_the_readme_configuration_table_is_generated_from_the_settings() -> None:
    shown = README[README.index(BEGIN) + len(BEGIN) : README.index(END)].strip()
    assert shown == table(), "stale: run `python -m app.configuration`"
    for name in Settings.model_fields:
        assert f"| `ESP_{name.upper()}` |" in shown
    # Defaults come from the fields: a changed default changes the table.
    assert "| `ESP_PORT` | `8080` |" in shown
    assert "| `ESP_MAX_BODY_BYTES` | 10 MiB |" in shown
    assert "| `ESP_EXTERNAL_TIMEOUT_SECONDS` | `3` |" in shown


def test_the_persona_table_has_every_personas_claims() -> None:
    rows = re.findall(r"^\| `([a-z0-9-]+)`: [^|]+\|[^|]+\| `(\{.*\})` \|$", README, flags=re.M)
    shown = {key: json.loads(claims) for key, claims in rows}
    assert shown == {p.key: dict(p.claims) for p in PERSONAS}


def test_the_example_clients_file_registers_the_demo_systems() -> None:
    registry = ClientRegistry.load(EXAMPLES / "clients.json")
    backends = [c for c in registry if not c.is_app]
    systems = {p.claims["client_id"]: p for p in PERSONAS if p.role == "system"}
    assert {c.client_id for c in backends} == set(systems)
    for client in backends:
        org = DEMO_SORS[client.org["dk_org_sor"]]
        expected = {"dk_org_sor": org.sor}
        if org.kommunekode:
            expected["dk_org_kommunekode"] = org.kommunekode
        if org.ydernummer:
            expected["dk_org_ydernummer"] = org.ydernummer
        assert dict(client.org) == expected
        assert str(client.scope) == systems[client.client_id].claims["scope"]
        # Its shipped demo key is the private half of the registered public key.
        private = json.loads(
            (EXAMPLES / "keys" / f"{client.client_id}.private.jwk.json").read_text()
        )
        public = ECKey.import_key(private).as_dict(private=False)
        assert [k.as_dict(private=False) for k in client.keys] == [public]
    assert [c.client_id for c in registry if c.is_app] == ["mit-barns-plan"]


@pytest.mark.parametrize("document", ["README.md", "docs/authorization.md", "docs/demo.md"])
def test_example_sor_codes_are_demo_organisations(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    codes = re.findall(r'"dk_org_sor":\s*"([0-9]+)"', text)
    assert codes or document == "docs/demo.md"
    assert set(codes) <= set(DEMO_SORS), set(codes) - set(DEMO_SORS)


def test_the_readme_commands_are_portable() -> None:
    for block in shell_blocks(README):
        for line in block.splitlines():
            assert not line.startswith(("open ", "xdg-open ")), line
            assert "| jq" not in line, line


@pytest.mark.skipif(shutil.which("make") is None, reason="make is missing")
def test_make_run_installs_only_the_runtime_dependencies() -> None:
    def installs(target: str) -> list[str]:
        plan = subprocess.run(
            ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        return [line for line in plan.splitlines() if "pip install --quiet -e" in line]

    assert installs("run") == [".venv/bin/python -m pip install --quiet -e '.'"]
    assert installs("test") == [".venv/bin/python -m pip install --quiet -e '.[dev,bench]'"]
    assert installs("bench") == [".venv/bin/python -m pip install --quiet -e '.[bench]'"]


def runtime_distributions() -> set[str]:
    """esp-careplans' dependencies without extras, and theirs (normalised names)."""
    seen: set[str] = set()
    todo = ["esp-careplans"]
    while todo:
        name = canonical(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in map(Requirement, requirements):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def test_the_app_imports_only_runtime_dependencies() -> None:
    """What `make run` installs is enough: no module of app/ imports a dev or bench tool."""
    allowed = runtime_distributions()
    owners = metadata.packages_distributions()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top == "app" or top in sys.stdlib_module_names:
                    continue
                distributions = {canonical(d) for d in owners.get(top, [])}
                assert distributions & allowed, f"{path.relative_to(ROOT)} imports {module}"

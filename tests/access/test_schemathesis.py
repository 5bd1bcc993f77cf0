"""Property-based API checks (schemathesis) with two principals, bounded.

`ignored_auth`: every /fhir operation that declares the bearer scheme refuses missing or
bad credentials. `not_a_server_error`: no generated input makes the server answer 5xx.
`object_level_authorization` runs too, with a hospital and an unrelated municipality as
peers; it can only probe objects its own value pool discovered, so the deterministic
object-level matrix (every rule, named ids) is tests/access/test_access_rules.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config._auth import WFCAuthConfig
from schemathesis.specs.openapi.checks import ignored_auth, object_level_authorization
from schemathesis.wfc.integration import register_wfc_auth

from tests.access.world import OTHER_MUNICIPALITY_SOR, load_world
from tests.support.tokens import HOSPITAL_SOR, TokenFactory

OPERATIONS = r"^/fhir/(CarePlan|Patient|Condition)(/\{id\})?$"


@pytest.fixture
def api_schema(app: FastAPI, settings: Any, tokens: TokenFactory, tmp_path: Path) -> Any:
    load_world(settings)
    identities = {
        "hospital": tokens.system(
            sor=HOSPITAL_SOR, scopes="system/*.cruds", exp=tokens.clock() + 3600
        ),
        "odder": tokens.system(
            sor=OTHER_MUNICIPALITY_SOR, scopes="system/*.cruds", exp=tokens.clock() + 3600
        ),
    }
    document = {
        "auth": [
            {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
            for name, token in identities.items()
        ]
    }
    path = tmp_path / "wfc-auth.json"
    path.write_text(json.dumps(document))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    register_wfc_auth(schema, WFCAuthConfig(path=str(path), peers=list(identities)))
    return schema.include(path_regex=OPERATIONS).include(method=["GET", "POST", "DELETE"])


@pytest.mark.slow
def test_api_contract_under_two_principals(api_schema: Any) -> None:
    # Driven through Hypothesis directly: schemathesis's pytest plugin lacks pytest 9 support.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9, [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
        )
        def check(case: Any) -> None:
            case.call_and_validate(
                checks=[not_a_server_error, ignored_auth, object_level_authorization]
            )

        check()

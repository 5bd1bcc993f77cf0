"""Property-based API checks (schemathesis): its default checks over the full document.

Every operation of the OpenAPI document is called with generated positive and negative
inputs under two principals (a hospital and an unrelated municipality, so
`object_level_authorization` has a peer), and every response is validated by
schemathesis's default checks: no 5xx, documented status codes, content types, headers and
response schemas, positive data accepted, negative data rejected, auth not ignored,
unsupported methods answered 405 with `Allow`. The only deviations are in `EXCLUDED`,
each with its reason. The deterministic object-level matrix (every rule, named ids) is
tests/access/test_access_rules.py; the hypothesis budget here is small, so this is a
contract test, not a fuzzing campaign. Cases come from schemathesis's fuzzing phase
(`as_strategy`); the coverage phase's own scenarios (undeclared methods → 405 with
`Allow`, OPTIONS `Allow` = documented methods) are asserted deterministically for every
path of the operations table in tests/rest/test_operations_table.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config._auth import WFCAuthConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.wfc.integration import register_wfc_auth

from tests.access.world import OTHER_MUNICIPALITY_SOR, load_world
from tests.support.tokens import HOSPITAL_SOR, TokenFactory

# The deviations from schemathesis's default checks, each for a FHIR reason. Keyed by
# (check, which operations); nothing else is excluded.
EXCLUDED: dict[tuple[str, str], str] = {
    (
        "positive_data_acceptance",
        "operations with a JSON body (a resource, a Bundle, a JSON Patch)",
    ): (
        "A body that matches the JSON Schema of a FHIR model is not thereby a valid "
        "resource: FHIR invariants (FHIRPath constraints such as ele-1), required "
        "terminology bindings, our profiles (docs/profiles.md) and the existence of "
        "reference targets cannot be expressed in JSON Schema, so such a body is rightly "
        "answered 400/422 with an OperationOutcome (R4 http.html#create, validation.html). "
        "Likewise every JSON string and member name must be a FHIR string (no control "
        "characters, R4 datatypes.html#string, json.html), which JSON Schema cannot state "
        "for the arbitrary JSON of a patch `value`."
    ),
    (
        "positive_data_acceptance",
        "conditional update, patch and delete (PUT, PATCH, DELETE [type])",
    ): (
        "A conditional interaction needs search criteria (R4 http.html#cond-update, "
        "#cdelete): any of the type's search parameters, an open set the document cannot "
        "mark as 'at least one required', so a request without any is rightly a 400."
    ),
}


def _excluded(operation: Any) -> list[Any]:
    """The checks `EXCLUDED` switches off for this operation."""
    body = operation.definition.raw.get("requestBody", {})
    json_body = any(
        media != "application/x-www-form-urlencoded" for media in body.get("content", {})
    )
    conditional = operation.method.upper() in ("PUT", "PATCH", "DELETE") and (
        "{id}" not in operation.path
    )
    return [positive_data_acceptance] if json_body or conditional else []


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
    return schema


def _failures(operation: Any, mode: GenerationMode) -> list[str]:
    """What the default checks (minus `EXCLUDED`) find in a few generated calls."""
    excluded = _excluded(operation)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=3,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(excluded_checks=excluded)

    try:
        check()
    except FailureGroup as group:
        return [f"{operation.label} [{mode.value}]: {group.message}"]
    except Unsatisfiable:  # nothing to negate: no parameters and no body
        assert mode is GenerationMode.NEGATIVE, operation.label
    return []


@pytest.mark.slow
def test_the_whole_document_passes_the_default_checks(api_schema: Any) -> None:
    # Driven through Hypothesis directly: schemathesis's pytest plugin lacks pytest 9 support.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 200, len(operations)
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for failure in _failures(operation, mode)
    ]
    assert not failures, "\n\n".join(failures)

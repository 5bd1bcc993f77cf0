"""Property-based API checks (schemathesis): its default checks over the full document.

Every operation of the OpenAPI document is called with generated positive and negative
inputs under two principals (a hospital and an unrelated municipality, so
`object_level_authorization` has a peer), and every response is validated by
schemathesis's default checks: no 5xx, documented status codes, content types, headers and
response schemas, positive data accepted, negative data rejected, auth not ignored,
unsupported methods answered 405 with `Allow`. The only deviations are in `EXCLUDED`,
each with its reason. The deterministic object-level matrix (every rule, named ids) is
tests/access/test_access_rules.py; the hypothesis budget here is small, so this is a
contract test, not a fuzzing campaign. Two runs: the fuzzing phase per operation
(`as_strategy`, positive and negative), and schemathesis's engine with its coverage phase
(boundary values, missing parameters, undeclared methods) over the whole document. The
stateful phase is not run (its links would need the document to describe them). Every
path's `Allow` and 405s are also asserted deterministically in
tests/rest/test_operations_table.py.
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
from schemathesis import GenerationMode, engine
from schemathesis.config._auth import WFCAuthConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.engine import events
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    object_level_authorization,
    positive_data_acceptance,
)
from schemathesis.wfc.integration import register_wfc_auth

from tests.access.world import OTHER_MUNICIPALITY_SOR, load_world
from tests.support.tokens import HOSPITAL_SOR, TokenFactory

# The deviations from schemathesis's default checks, each for a FHIR reason. Keyed by
# (check, which operations); nothing else is excluded.
EXCLUDED: dict[tuple[str, str], str] = {
    (
        "positive_data_acceptance",
        "operations with a JSON body (a resource, a Bundle, a JSON Patch, Parameters)",
    ): (
        "A body that matches the JSON Schema of a FHIR model is not thereby a valid "
        "resource: FHIR invariants (FHIRPath constraints such as ele-1), required "
        "terminology bindings, our profiles (docs/profiles.md) and the existence of "
        "reference targets cannot be expressed in JSON Schema, so such a body is rightly "
        "answered 400/422 with an OperationOutcome (R4 http.html#create, validation.html). "
        "An operation's Parameters have the names and types of its OperationDefinition "
        "(from/to quarters, _since, _type), which the generic Parameters schema cannot state. "
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
    (
        "object_level_authorization",
        "Organization, Practitioner, PractitionerRole, StructureDefinition, CodeSystem, ValueSet",
    ): (
        "Not patient data: every authenticated party with a scope may read them (rule "
        "`non-patient-data`, docs/authorization.md), so another organisation reading the "
        "hospital's Organization is the rule, not a bypass."
    ),
    ("negative_data_rejection", "$validate"): (
        "$validate answers 200 with an OperationOutcome listing the issues whether or not "
        "the resource is valid (R4 resource-operation-validate.html): validating an "
        "invalid resource is the operation succeeding."
    ),
}


_NOT_PATIENT_DATA = (
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "StructureDefinition",
    "CodeSystem",
    "ValueSet",
)


def _excluded_names(operation: Any) -> set[str]:
    """The checks `EXCLUDED` switches off for this operation."""
    body = operation.definition.raw.get("requestBody", {})
    json_body = any(
        media != "application/x-www-form-urlencoded" for media in body.get("content", {})
    )
    conditional = operation.method.upper() in ("PUT", "PATCH", "DELETE") and (
        "{id}" not in operation.path
    )
    names = {"positive_data_acceptance"} if json_body or conditional else set()
    if operation.path.endswith("/$validate"):
        names.add("negative_data_rejection")
    parts = operation.path.split("/")  # /fhir/<type>/...
    if len(parts) > 2 and parts[2] in _NOT_PATIENT_DATA:
        names.add("object_level_authorization")
    return names


def _excluded(operation: Any) -> list[Any]:
    checks = {
        c.__name__: c
        for c in (positive_data_acceptance, negative_data_rejection, object_level_authorization)
    }
    return [checks[name] for name in _excluded_names(operation)]


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


@pytest.mark.slow
def test_the_coverage_phase_passes_the_default_checks(api_schema: Any) -> None:
    """schemathesis's engine, coverage phase only: boundary values, missing and
    undeclared parameters, undeclared methods, over the whole document."""
    operations = {r.ok().label: r.ok() for r in api_schema.get_all_operations()}
    api_schema.config.cache.enabled = False  # no learned values carried between runs
    phases = api_schema.config.phases
    phases.examples.enabled = phases.fuzzing.enabled = phases.stateful.enabled = False
    failures: set[str] = set()
    scenarios = 0
    for event in engine.from_schema(api_schema).execute():
        if isinstance(event, events.FatalError | events.NonFatalError):
            failures.add(f"engine error: {event!r}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        scenarios += 1
        for checks in event.recorder.checks.values():
            for check in checks:
                info = check.failure_info
                operation = operations.get(info.failure.operation) if info else None
                if info is None or (
                    operation is not None and check.name in _excluded_names(operation)
                ):
                    continue
                failure = info.failure
                failures.add(f"{failure.operation} {check.name}: {failure.message[:700]}")
    assert scenarios >= len(operations) > 200, (scenarios, len(operations))
    assert not failures, "\n".join(sorted(failures))

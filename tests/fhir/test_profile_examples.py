"""The example transaction bundles in fhir_profiles/examples/: valid R4B, valid against our
profiles, and shaped the way docs/profiles.md tells vendors to push."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.fhir.profiles import (
    CPR_SYSTEM,
    PLAN_PROFILES,
    PLAN_TYPE_SYSTEM,
    SOR_SYSTEM,
    ProfileCatalog,
)

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ProfileCatalog.load(ROOT / "fhir_profiles")
EXAMPLES = sorted((ROOT / "fhir_profiles/examples").glob("Bundle-*.json"))
TEST_CPRS = {
    e["resource"]["identifier"][0]["value"]
    for e in json.loads(
        (ROOT / "tests/fixtures/profiles/medcom-test-families.json").read_text("utf-8")
    )["entry"]
    if e["resource"]["resourceType"] == "Patient"
}


def _load(path: Path) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return bundle


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


def test_one_example_per_plan_kind() -> None:
    kinds = set()
    for path in EXAMPLES:
        for entry in _load(path)["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "CarePlan":
                kinds |= {
                    c["code"]
                    for cat in resource["category"]
                    for c in cat["coding"]
                    if c["system"] == PLAN_TYPE_SYSTEM
                }
    assert kinds == set(PLAN_PROFILES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_parses_as_r4b(path: Path) -> None:
    bundle = _load(path)
    get_fhir_model_class("Bundle").model_validate(bundle)
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_validates_with_and_without_a_resolver(path: Path) -> None:
    bundle = _load(path)
    entries = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert CATALOG.profiles_for(resource), resource["resourceType"]
        assert CATALOG.validate(resource, resolve=entries.get) == []
        assert [i for i in CATALOG.validate(resource) if i.severity != "information"] == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_a_transaction_with_conditional_creates(path: Path) -> None:
    bundle = _load(path)
    assert bundle["type"] == "transaction"
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    for entry in bundle["entry"]:
        resource, request = entry["resource"], entry["request"]
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert request["method"] == "POST" and request["url"] == resource["resourceType"]
        if resource["resourceType"] == "Patient":
            cpr = resource["identifier"][0]["value"]
            assert request["ifNoneExist"] == f"identifier={CPR_SYSTEM}|{cpr}"
            assert cpr in TEST_CPRS  # MedCom test persons only
        elif resource["resourceType"] == "Organization":
            sor = next(i["value"] for i in resource["identifier"] if i["system"] == SOR_SYSTEM)
            assert request["ifNoneExist"] == f"identifier={SOR_SYSTEM}|{sor}"
        else:
            identifier = resource["identifier"][0]
            assert (
                request["ifNoneExist"] == f"identifier={identifier['system']}|{identifier['value']}"
            )
        for reference in _references(resource):
            assert reference.startswith("#") or reference in full_urls, reference


def test_validation_is_fast_enough_for_every_write() -> None:
    """Precompiled profiles: validating all example resources 20 times stays well under a second or
    two (about 0.5 ms per plan on a laptop)."""
    import time

    resources = [e["resource"] for path in EXAMPLES for e in _load(path)["entry"]]
    start = time.perf_counter()
    for _ in range(20):
        for resource in resources:
            CATALOG.validate(resource)
    assert time.perf_counter() - start < 5.0

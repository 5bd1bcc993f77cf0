"""Pure parts of search: registry, extraction, normalisation, dates, parsing, summary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import ColumnElement, FromClause, true

from app.fhir.outcome import FhirError
from app.fhir.search.dates import date_range
from app.fhir.search.extract import extract_index
from app.fhir.search.memory import search_in_memory
from app.fhir.search.model import Chain, Filter, Has, TokenValue
from app.fhir.search.normalise import normalise
from app.fhir.search.parse import parse_search
from app.fhir.search.registry import (
    include_targets,
    revinclude_sources,
    search_params,
    stored_types,
)
from app.fhir.search.summary import apply_summary
from app.storage.search_predicates import MATCH, PredicateCompiler
from tests.search.data import CPR, REHAB, careplan, patient

BASE = "http://testserver/fhir"


def test_registry_lists_every_required_parameter() -> None:
    required = {
        "CarePlan": "patient subject category status intent date author care-team goal condition "
        "based-on replaces part-of identifier activity-code activity-date performer encounter "
        "instantiates-canonical",
        "Condition": "patient subject code category clinical-status verification-status onset-date "
        "abatement-date recorded-date asserter identifier encounter",
        "Goal": "patient subject lifecycle-status achievement-status category target-date "
        "start-date identifier",
        "Patient": "identifier name family given birthdate gender general-practitioner "
        "organization active deceased",
        "RelatedPerson": "patient identifier relationship active name",
        "Organization": "identifier name type partof active",
        "Consent": "patient status category scope actor period date action purpose",
        "Provenance": "target agent recorded patient",
        "AuditEvent": "patient date agent entity action type subtype outcome",
        "StructureDefinition": "url name status version",
    }
    for rtype, names in required.items():
        params = search_params(rtype)
        for name in [
            *names.split(),
            "_id",
            "_lastUpdated",
            "_tag",
            "_profile",
            "_security",
            "_source",
        ]:
            assert name in params, (rtype, name)
            assert params[name].definition.startswith("http://hl7.org/fhir/SearchParameter/")
    assert search_params("CarePlan")["patient"].definition.endswith("/clinical-patient")
    assert search_params("Patient")["deceased"].type == "token"
    assert "CarePlan:patient" in include_targets("CarePlan")
    assert "CarePlan:patient" in revinclude_sources("Patient")
    assert "Provenance:target" in revinclude_sources("CarePlan")
    assert "StructureDefinition" not in stored_types()


def test_normalise_keeps_danish_letters() -> None:
    assert normalise("Søren Ærø Åse") == "søren ærø åse"
    assert normalise("Jörg Mäkelä") == "jørg mækelæ"
    assert normalise("Émile  Zoë") == "emile zoe"
    assert normalise("A\u030ase") == "åse"  # decomposed å
    assert normalise("STRASSE") == normalise("straße")


def test_date_ranges_follow_precision_and_zone() -> None:
    assert date_range("2024") == (
        datetime(2023, 12, 31, 23, tzinfo=UTC),
        datetime(2024, 12, 31, 23, tzinfo=UTC),
    )
    low, high = date_range("2024-07-01")  # summer time: UTC+2
    assert (low.hour, high - low) == (22, high - low) and (high - low).days == 1
    assert date_range("2024-05-01T10:00:00Z")[1] == datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC)
    assert date_range("2024-05-01T10:00:00.5+02:00")[0] == datetime(
        2024, 5, 1, 8, 0, 0, 500000, tzinfo=UTC
    )
    for bad in ("2024-13", "24-01-01", "2024-01-01T25:00", "yesterday", "2024-02-30"):
        with pytest.raises(ValueError):
            date_range(bad)


def test_extract_compartment_and_rows() -> None:
    plan = careplan(
        "c",
        "p1",
        REHAB,
        activity=[{"detail": {"performer": [{"reference": "Patient/p9"}]}}],
        author={"reference": "http://other.example/fhir/Organization/o1"},
    )
    rows = extract_index(plan)
    assert rows.compartment_patients == {"p1", "p9"}
    authors = rows.of("reference", "author")
    assert authors[0]["target_url"] == "http://other.example/fhir/Organization/o1"
    assert authors[0]["target_id"] is None  # a foreign server's id is not ours
    assert extract_index(patient("p5", "1", "A", "B", "2000")).compartment_patients == {"p5"}


def test_choice_elements_are_found_under_their_typed_keys() -> None:
    """`CarePlan.activity.detail.scheduled` and `Consent.source` are choice elements
    (`scheduled[x]`, `source[x]`): their values are stored as `scheduledPeriod`,
    `sourceReference`."""
    plan = careplan(
        "c", "p1", REHAB, activity=[{"detail": {"scheduledPeriod": {"start": "2026-03-01"}}}]
    )
    dates = extract_index(plan).of("date", "activity-date")
    noon = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert len(dates) == 1 and dates[0]["low"] <= noon and dates[0]["high"] is None  # open end
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "sourceReference": {"reference": "DocumentReference/d1"},
    }
    sources = extract_index(consent).of("reference", "source-reference")
    assert [(s["target_type"], s["target_id"]) for s in sources] == [("DocumentReference", "d1")]
    # a name that is no choice element anywhere is not matched by prefix
    stray = {**consent, "scopeX": {"coding": [{"code": "x"}]}}  # `scope` is no choice element
    assert not extract_index(stray).of("token", "scope")


def test_parse_structures() -> None:
    req = parse_search(
        ["CarePlan"],
        [("patient.identifier", f"{CPR}|0505159995"), ("category", f"x|{REHAB},y")],
        base_url=BASE,
    )
    chain, category = req.criteria_for("CarePlan")
    assert isinstance(chain, Chain) and chain.targets[0][0] == "Patient"
    assert isinstance(category, Filter) and category.values == (
        TokenValue("x", REHAB),
        TokenValue(None, "y"),
    )
    req = parse_search(["Patient"], [("_has:CarePlan:patient:status", "active")], base_url=BASE)
    assert isinstance(req.criteria_for("Patient")[0], Has)
    escaped = parse_search(["Patient"], [("name", r"a\,b,c")], base_url=BASE).criteria_for(
        "Patient"
    )[0]
    assert isinstance(escaped, Filter) and len(escaped.values) == 2
    assert (
        parse_search(["CarePlan"], [("_count", "5000")], base_url=BASE, max_count=1000).count
        == 1000
    )
    assert parse_search(["CarePlan"], [], base_url=BASE, default_count=20).count == 20


@pytest.mark.parametrize(
    ("rtype", "name", "value"),
    [
        ("CarePlan", "nonsense", "1"),
        ("CarePlan", "date", "xx2024"),
        ("CarePlan", "date", "2024-99"),
        ("CarePlan", "date:exact", "2024"),
        ("CarePlan", "status:contains", "a"),
        ("CarePlan", "status:in", "http://vs"),
        ("CarePlan", "status:missing", "maybe"),
        ("CarePlan", "patient", "not an id!"),
        ("CarePlan", "patient", "Organization/1"),
        ("CarePlan", "subject:Organization", "1"),
        ("CarePlan", "status.name", "x"),
        ("CarePlan", "patient.nonsense", "x"),
        ("CarePlan", "patient.organization.partof.name", "x"),
        ("CarePlan", "category:of-type", "a|b|c"),
        ("Patient", "identifier:of-type", "a|b"),
        ("Patient", "_has:CarePlan", "x"),
        ("Patient", "_has:Nope:patient:status", "x"),
        ("Patient", "_has:CarePlan:status:status", "x"),
        ("CarePlan", "_sort", "nonsense"),
        ("CarePlan", "_count", "-1"),
        ("CarePlan", "_total", "some"),
        ("CarePlan", "_summary", "maybe"),
        ("CarePlan", "_include", "Patient:organization"),
        ("CarePlan", "_include", "CarePlan:status"),
        ("CarePlan", "_type", "Nope"),
    ],
)
def test_malformed_input_is_400_naming_the_parameter(rtype: str, name: str, value: str) -> None:
    with pytest.raises(FhirError) as err:
        parse_search([rtype], [(name, value)], base_url=BASE)
    assert err.value.status == 400
    assert err.value.issues[0].expression == (name,)


def test_lenient_ignores_unknown_parameters_only() -> None:
    req = parse_search(
        ["CarePlan"], [("nonsense", "1"), ("status", "active")], base_url=BASE, lenient=True
    )
    assert len(req.criteria_for("CarePlan")) == 1 and req.warnings[0].expression == ("nonsense",)
    assert req.ignored == ("nonsense",)
    with pytest.raises(FhirError):
        parse_search(["CarePlan"], [("date", "bad")], base_url=BASE, lenient=True)


def test_an_ignored_parameter_is_ignored_on_every_type_and_does_not_bind_the_cursor() -> None:
    params = [("_type", "Patient,CarePlan"), ("family", "x")]
    req = parse_search([], params, base_url=BASE, lenient=True)
    assert req.criteria_for("Patient") == () and req.criteria_for("CarePlan") == ()
    assert req.ignored == ("family",)
    plain = parse_search([], params[:1], base_url=BASE)
    assert req.query_key == plain.query_key
    with pytest.raises(FhirError):
        parse_search([], params, base_url=BASE)


def test_summary_and_elements_mark_subsetted() -> None:
    plan = {
        **careplan("c", "p1", REHAB),
        "text": {"status": "generated", "div": "<div/>"},
        "note": [{"text": "n"}],
        "meta": {"versionId": "1"},
    }
    summary = apply_summary(plan, "true")
    assert "note" not in summary and "text" not in summary and summary["status"] == "active"
    assert summary["meta"]["tag"][0]["code"] == "SUBSETTED" and "tag" not in plan["meta"]
    assert set(apply_summary(plan, "text")) == {
        "resourceType",
        "id",
        "meta",
        "text",
        "status",
        "intent",
    }
    assert "text" not in apply_summary(plan, "data") and "note" in apply_summary(plan, "data")
    assert "note" in apply_summary(plan, None, ["note"]) and "category" not in apply_summary(
        plan, None, ["note"]
    )
    assert apply_summary(plan, "false") is plan


def test_in_memory_matcher_for_conformance_resources() -> None:
    resources = [
        {
            "resourceType": "StructureDefinition",
            "id": "a",
            "url": "http://example.dk/sd/rehab-plan",
            "name": "RehabPlan",
            "status": "active",
            "version": "1.0",
        },
        {
            "resourceType": "ValueSet",
            "id": "b",
            "url": "http://example.dk/vs/kinds",
            "name": "Kinds",
            "status": "draft",
        },
    ]

    def run(types: list[str], params: list[tuple[str, str]]) -> list[str]:
        req = parse_search(types, params, base_url=BASE)
        return [r["id"] for r in search_in_memory(req, resources)]

    assert run(["StructureDefinition"], [("url", "http://example.dk/sd/rehab-plan")]) == ["a"]
    assert run(["StructureDefinition"], [("name", "rehab")]) == ["a"]
    assert run(["StructureDefinition"], [("status", "draft")]) == []
    assert run(["ValueSet"], [("status", "draft"), ("version:missing", "true")]) == ["b"]
    assert run(["ValueSet", "StructureDefinition"], [("url:below", "http://example.dk/")]) == [
        "a",
        "b",
    ]


@pytest.mark.parametrize(
    ("params", "generic"),
    [
        # the typical CPR search and patient lookups: equalities only
        (
            [
                ("patient.identifier", "urn:oid:1.2.208.176.1.2|0505159995"),
                ("category", "http://x|rehabilitation-plan"),
                ("status", "active"),
            ],
            True,
        ),
        ([("subject", "Patient/p1"), ("condition:identifier", "urn:x|1")], True),
        ([("status:not", "active")], True),
        # values the planner must see
        ([("_lastUpdated", "gt2024-01-01")], False),
        ([("date", "ge2024")], False),
        ([("category:text", "genoptræn")], False),
        ([("patient.name", "Hans")], False),
        ([("status", "active"), ("_sort", "-date")], False),
    ],
)
def test_generic_plans_only_for_equality_searches(
    params: list[tuple[str, str]], generic: bool
) -> None:
    from app.storage.search_sql import _generic_plan_safe

    request = parse_search(["CarePlan"], params, base_url="http://x/fhir")
    assert _generic_plan_safe(request) is generic


def test_nested_subqueries_reuse_one_alias_per_level() -> None:
    """Chains and `_has` hand the security predicate the same table on every search (so
    its compiled clause is cached), and a distinct one at each nesting level (so a
    nested subquery never correlates with the one around it)."""

    def tables_seen(params: list[tuple[str, str]], rtype: str) -> list[FromClause]:
        seen: list[FromClause] = []

        def security(
            resource_type: str, r: FromClause, *, patient_scoped: bool = False
        ) -> ColumnElement[bool]:
            seen.append(r)
            return true()

        compiler = PredicateCompiler(security, "postgresql")
        request = parse_search([rtype], params, base_url="http://x/fhir")
        compiler.all(rtype, MATCH, request.criteria_for(rtype))
        return seen

    chain = [("patient.organization.name", "Aarhus")]
    first, again = tables_seen(chain, "CarePlan"), tables_seen(chain, "CarePlan")
    assert len(first) == 2 and first[0] is not first[1] and MATCH not in first
    assert all(a is b for a, b in zip(first, again, strict=True))

    has = [("_has:CarePlan:patient:category", REHAB)]
    assert tables_seen(has, "Patient")[0] is tables_seen(has, "Patient")[0]

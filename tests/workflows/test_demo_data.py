"""The demo data set: loads without profile errors, twice without change, and every
persona sees what docs/demo.md says it sees."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app import cli
from app.demo import load_demo
from app.demo.personas import PERSONAS, persona
from app.loader import load_bundle
from app.settings import Settings
from tests.support.resources import patient
from tests.support.tokens import TokenFactory
from tests.workflows.conftest import ClientFor, entries, persona_token

EXPECTED = {
    "Patient": 38,  # MedCom's test persons
    "RelatedPerson": 44,  # their 40 family relations + 4 recorded custodies (PARAUTH)
    "Organization": 12,  # the cluster's 10 and the two registry feeds
    "CarePlan": 13,  # 5 examples + 8 demo plans
    "Condition": 12,
    "Goal": 15,
    "Consent": 1,  # Einer's opt-out
    "EpisodeOfCare": 9,  # the hospital contacts the regions' contact feed records
    "Subscription": 1,  # Horsens Kommune's, for rehabilitation plans (docs/events.md)
}


def _internal(settings: Settings, *urls: str) -> list[dict[str, Any]]:
    """GETs as the trusted internal caller (no access filter), through POST /fhir's path."""
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": url}} for url in urls],
    }
    response = asyncio.run(load_bundle(settings, batch))
    return [e["resource"] for e in response["entry"]]


def _counts(settings: Settings) -> dict[str, int]:
    found = _internal(settings, *(f"{t}?_summary=count" for t in EXPECTED))
    return {t: int(b["total"]) for t, b in zip(EXPECTED, found, strict=True)}


def _provenances(settings: Settings) -> int:
    (found,) = _internal(settings, "Provenance?_summary=count")
    return int(found["total"])


def _versions(settings: Settings) -> set[str]:
    found = _internal(settings, *(f"{t}?_count=100" for t in EXPECTED))
    return {e["resource"]["meta"]["versionId"] for b in found for e in b.get("entry", [])}


def test_the_demo_loads_and_loading_again_changes_nothing(app: Any, settings: Settings) -> None:
    first = asyncio.run(load_demo(settings, if_empty=False))
    assert not first.skipped
    assert set(first.statuses) <= {"201 Created", "200 OK"}, first.statuses
    assert first.created == sum(EXPECTED.values())
    # Bundles name shared resources again; on an empty database none was "already there".
    assert first.unchanged == 0
    assert first.summary() == f"demo data loaded: {first.created} resources in 18 bundles"
    assert _counts(settings) == EXPECTED
    # One Provenance per version written (each resource has one version).
    assert _provenances(settings) == sum(EXPECTED.values())

    second = asyncio.run(load_demo(settings, if_empty=False))
    assert second.created == 0
    assert second.unchanged == sum(EXPECTED.values())
    assert set(second.statuses) == {"200 OK"}
    assert "already loaded" in second.summary() and "nothing changed" in second.summary()
    assert _counts(settings) == EXPECTED
    assert _versions(settings) == {"1"}  # conditional creates: no new versions either
    assert _provenances(settings) == sum(EXPECTED.values())  # nor new Provenances


def test_if_empty_loads_only_into_an_empty_database(
    app: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    asyncio.run(load_bundle(settings, patient()))
    report = asyncio.run(load_demo(settings, if_empty=True))
    assert report.skipped and report.created == 0
    assert _counts(settings)["Patient"] == 1 and _counts(settings)["CarePlan"] == 0

    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["load", "--demo", "--if-empty"]) == 0
    assert "not loaded" in capsys.readouterr().out
    assert _counts(settings)["CarePlan"] == 0
    assert cli.main(["load"]) == 2  # neither FILE nor --demo


def test_if_empty_loads_an_empty_database(
    app: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["load", "--demo", "--if-empty"]) == 0
    assert _counts(settings) == EXPECTED


# persona key → (search, expected status, expected number of CarePlans or None)
SEES: dict[str, tuple[str, int, int | None]] = {
    "kirsten-lars": ("CarePlan", 200, 1),  # the rehabilitation plan; not the hidden one
    "kirsten-rikke": ("CarePlan", 200, 1),
    "kirsten-aya": ("CarePlan", 200, 0),
    "kirsten-gitte": ("CarePlan", 403, None),  # turned 15 (sundhedsloven §39a)
    "anders-ali": ("CarePlan", 403, None),  # father, no recorded custody
    "kirsten": ("CarePlan", 200, 1),
    "gitte": ("CarePlan", 200, 1),
    "pia": ("CarePlan", 200, 1),
    "einer": ("CarePlan", 200, 2),
    "niels-psykiatrien": (
        "CarePlan",
        200,
        5,
    ),  # Rasmus, Pia, Gitte, both of Lars (relation per patient)
    "kaja-skanderborg": ("CarePlan", 200, 1),  # Bruno only: Einer opted out
    "kaja-skanderborg-override": ("CarePlan", 200, 3),  # + Einer's two, by værdispring
    "horsens-kommune-system": (
        "CarePlan?category=http://esp-careplans.dk/fhir/CodeSystem/plan-type|rehabilitation-plan",
        200,
        3,
    ),
    "odder-kommune-system": ("CarePlan", 200, 1),  # Max Berggren's T2D plan only
    "hospital-system": (
        "CarePlan",
        200,
        7,
    ),  # its 5 patients: Nancy, Einer (2), Lars (2), Rikke, Ali
    "gp-skanderborg-system": ("CarePlan", 200, 3),  # Bruno, and both of Einer's plans
}


def test_every_persona_sees_what_the_demo_guide_says(
    app: Any, settings: Settings, tokens: TokenFactory, client_for: ClientFor
) -> None:
    asyncio.run(load_demo(settings, if_empty=True))
    assert set(SEES) == {p.key for p in PERSONAS}
    seen: dict[str, tuple[int, int | None]] = {}
    for key, (query, _, _) in SEES.items():
        who = persona(key)
        client = client_for(persona_token(tokens, who.claims), dict(who.extra_headers))
        response = client.get(f"/fhir/{query}")
        count = len(entries(response.json())) if response.status_code == 200 else None
        seen[key] = (response.status_code, count)
    assert seen == {key: (status, count) for key, (_, status, count) in SEES.items()}


def test_custody_refusals_name_their_rule(
    app: Any, settings: Settings, tokens: TokenFactory, client_for: ClientFor
) -> None:
    asyncio.run(load_demo(settings, if_empty=True))
    for key, rule in (
        ("kirsten-gitte", "child-15-or-over-sundhedsloven-39a"),
        ("anders-ali", "no-verified-custody"),
    ):
        client = client_for(persona_token(tokens, persona(key).claims))
        outcome = client.get("/fhir/CarePlan").json()
        codes = [
            c.get("code")
            for issue in outcome["issue"]
            for c in (issue.get("details") or {}).get("coding", [])
        ]
        assert rule in codes or any(rule in i.get("diagnostics", "") for i in outcome["issue"]), (
            key,
            outcome,
        )


def test_the_report_counts_resources_not_entries() -> None:
    """A later bundle naming a resource an earlier one created is not "already there"."""
    from app.demo import DemoReport

    def answer(status: str, location: str) -> dict[str, Any]:
        return {"response": {"status": status, "location": location}}

    report = DemoReport()
    base = "http://127.0.0.1:8080/fhir"
    report.record("first", {"entry": [answer("201 Created", f"{base}/Patient/a/_history/1")]})
    report.record(
        "second",
        {
            "entry": [
                answer("200 OK", f"{base}/Patient/a"),  # created by "first"
                answer("200 OK", f"{base}/Organization/o/_history/1"),  # there before the load
                answer("201 Created", f"{base}/CarePlan/c/_history/1"),
            ]
        },
    )
    assert (report.created, report.unchanged) == (2, 1)
    assert report.summary() == "demo data loaded: 2 resources in 2 bundles; 1 were already there"

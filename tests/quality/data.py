"""A built data set with known rehabilitation outcomes (docs/quality-data.md).

Horsens Kommune receives genoptræningsplaner from Regionshospitalet Horsens; each citizen's
later plans start a known number of days after their plan was completed. Everything is
written by the organisation that would write it, through the API's code path.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from app.access.principal import Principal
from app.loader import LOADER, as_organisation
from tests.access.world import (
    HIDDEN_LABEL,
    OTHER_MUNICIPALITY_SOR,
    Writes,
    _plan,
    einer_opt_out,
    load_writes,
)
from tests.support.resources import CPR_SYSTEM, SOR_SYSTEM, unique_cpr
from tests.support.tokens import GP_SOR, HOSPITAL_SOR, MUNICIPALITY_SOR

_EXAMPLE = json.loads(
    (
        Path(__file__).resolve().parents[2]
        / "fhir_profiles/examples/Bundle-rehabilitation-plan.json"
    ).read_text("utf-8")
)
_BASE_PLAN = next(
    e["resource"] for e in _EXAMPLE["entry"] if e["resource"]["resourceType"] == "CarePlan"
)
_BASE_CONDITION = next(
    e["resource"] for e in _EXAMPLE["entry"] if e["resource"]["resourceType"] == "Condition"
)
REGION_SYSTEM = "urn:iso:std:iso:3166:-2"
KOMMUNEKODE_SYSTEM = "http://hl7.dk/fhir/core/CodeSystem/dk-core-municipality-codes"
PARTY_ROLE = "http://esp-careplans.dk/fhir/CodeSystem/party-role"
HORSENS_KOMMUNEKODE, ODDER_KOMMUNEKODE = "0615", "0727"
Q1_END = date(2025, 2, 1)  # the completion date of most plans below (2025-Q1)


def _org(oid: str, sor: str, name: str, *more: tuple[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": oid,
        "identifier": [
            {"use": "official", "system": SOR_SYSTEM, "value": sor},
            *({"system": s, "value": v} for s, v in more),
        ],
        "active": True,
        "name": name,
    }


ORGANISATIONS = [
    _org("hospital", HOSPITAL_SOR, "Regionshospitalet Horsens", (REGION_SYSTEM, "DK-82")),
    _org("horsens", MUNICIPALITY_SOR, "Horsens Kommune", (KOMMUNEKODE_SYSTEM, "0615")),
    _org("odder", OTHER_MUNICIPALITY_SOR, "Odder Kommune", (KOMMUNEKODE_SYSTEM, "0727")),
    _org("gp", GP_SOR, "Lægehuset Søndergade"),
]


def _patient(pid: str, cpr: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"use": "official", "system": CPR_SYSTEM, "value": cpr}],
        "name": [{"use": "official", "family": "Test", "given": [pid]}],
    }


def _party(role: str, oid: str, sor: str) -> dict[str, Any]:
    return {
        "role": [{"coding": [{"system": PARTY_ROLE, "code": role}]}],
        "member": {
            "reference": f"Organization/{oid}",
            "type": "Organization",
            "identifier": {"system": SOR_SYSTEM, "value": sor},
            "display": oid,
        },
    }


def rehabilitation_plan(
    pid: str,
    patient: str,
    end: date,
    *,
    municipality: tuple[str, str] = ("horsens", MUNICIPALITY_SOR),
    status: str = "completed",
    hidden: bool = False,
) -> list[dict[str, Any]]:
    """A genoptræningsplan of the hospital for `patient`, received by `municipality`,
    ending (completed) on `end`; with the Condition it addresses."""
    condition = copy.deepcopy(_BASE_CONDITION)
    condition.update(id=f"{pid}-condition", subject={"reference": f"Patient/{patient}"})
    plan = copy.deepcopy(_BASE_PLAN)
    plan.pop("identifier", None)
    plan.pop("goal", None)
    start = end - timedelta(days=60)
    mun_id, mun_sor = municipality
    plan["contained"][0]["participant"] = [
        _party("municipality", mun_id, mun_sor),
        _party("region", "hospital", HOSPITAL_SOR),
    ]
    for activity in plan["activity"]:
        activity["detail"]["performer"] = [{"reference": f"Organization/{mun_id}"}]
    plan.update(
        id=pid,
        status=status,
        subject={"reference": f"Patient/{patient}"},
        author={"reference": "Organization/hospital"},
        addresses=[{"reference": f"Condition/{pid}-condition"}],
        period={"start": start.isoformat(), "end": end.isoformat()},
        created=start.isoformat(),
        extension=[
            {
                "url": "http://esp-careplans.dk/fhir/StructureDefinition/discharge-date",
                "valueDate": start.isoformat(),
            }
        ],
    )
    if hidden:  # hidden from custody holders (§37 stk. 2): no matter to the aggregate
        plan["meta"]["security"] = [HIDDEN_LABEL]
    return [condition, plan]


def later_plan(pid: str, patient: str, start: date, author: str = "hospital") -> dict[str, Any]:
    """A plan (no plan type) that starts on `start`; who writes it decides what it is."""
    return _plan(pid, patient, author, period={"start": start.isoformat()})


def opt_out(patient: str, actor: str) -> dict[str, Any]:
    """The citizen's opt-out of sharing with `actor` (negativt samtykke), shaped like Einer's."""
    consent = copy.deepcopy(einer_opt_out())
    consent.update(id=f"{patient}-optout", patient={"reference": f"Patient/{patient}"})
    consent["provision"]["actor"][0]["reference"] = {"reference": f"Organization/{actor}"}
    return consent


# Horsens' completed plans in 2025-Q1 and the days after completion its citizens' later
# hospital plans start (None: no later plan counted). The answers: 12 completed, 3 within
# 30 days (days 0, 29, 30), 6 within 90 days (also 31, 89, 90).
DAYS_TO_HOSPITAL_PLAN = {
    "day0": 0,
    "day29": 29,
    "day30": 30,
    "day31": 31,
    "day89": 89,
    "day90": 90,
    "day91": 91,
}
Q1_COUNTS = (12, 3, 6)
Q2_COUNTS = (3, 0, 0)


@dataclass(frozen=True, slots=True)
class DataSet:
    writes: list[Writes]
    patient_ids: list[str]
    cprs: list[str]
    plan_ids: list[str]


def data_set() -> DataSet:
    """The organisations, citizens and plans; every plan's id and CPR is kept for the tests
    that check none of them appears in an answer."""
    pids = [
        *DAYS_TO_HOSPITAL_PLAN,
        "other-municipality",  # a later plan from Odder Kommune, not a hospital
        "gp",  # a later plan from a GP that Odder claims is a region's
        "before",  # a hospital plan starting before the completion
        "none",  # no later plan at all
        "quarter-end",  # completed on 31 March, no later plan
        "opted-out",  # a hospital plan on day 5, but an opt-out against the hospital
        "odder-citizen",  # Odder's plan, followed by a hospital plan on day 3
        "active",  # Horsens' plan still active
        "q2-first",  # completed 1 April
        "q2",  # completed 15 April
        "q2-hidden",  # completed 10 May, the plan hidden from custody holders
        "forged",  # a plan Horsens wrote itself, claiming the hospital as its author
    ]
    cprs = [unique_cpr() for _ in pids]
    patients = [_patient(p, c) for p, c in zip(pids, cprs, strict=True)]
    hospital: list[dict[str, Any]] = []
    for pid, days in DAYS_TO_HOSPITAL_PLAN.items():
        hospital += rehabilitation_plan(f"{pid}-rehab", pid, Q1_END)
        hospital.append(later_plan(f"{pid}-later", pid, Q1_END + timedelta(days=days)))
    for pid in ("other-municipality", "gp", "none", "opted-out"):
        hospital += rehabilitation_plan(f"{pid}-rehab", pid, Q1_END)
    hospital += rehabilitation_plan("before-rehab", "before", Q1_END)
    hospital.append(later_plan("before-later", "before", Q1_END - timedelta(days=5)))
    hospital.append(later_plan("opted-out-later", "opted-out", Q1_END + timedelta(days=5)))
    hospital += rehabilitation_plan("quarter-end-rehab", "quarter-end", date(2025, 3, 31))
    hospital += rehabilitation_plan(
        "odder-rehab", "odder-citizen", Q1_END, municipality=("odder", OTHER_MUNICIPALITY_SOR)
    )
    hospital.append(later_plan("odder-later", "odder-citizen", Q1_END + timedelta(days=3)))
    hospital += rehabilitation_plan("active-rehab", "active", Q1_END, status="active")
    hospital += rehabilitation_plan("q2-first-rehab", "q2-first", date(2025, 4, 1))
    hospital += rehabilitation_plan("q2-rehab", "q2", date(2025, 4, 15))
    hospital += rehabilitation_plan("q2-hidden-rehab", "q2-hidden", date(2025, 5, 10), hidden=True)
    odder = [
        later_plan("odder-own", "other-municipality", Q1_END + timedelta(days=10), "odder"),
        # Odder says the GP is a region's: a directory record not of the GP's own.
        _org("gp-as-region", GP_SOR, "Lægehuset (påstået region)", (REGION_SYSTEM, "DK-82")),
    ]
    gp = [later_plan("gp-later", "gp", Q1_END + timedelta(days=10), "gp")]
    forged = rehabilitation_plan("forged-rehab", "forged", Q1_END)
    writes = [
        Writes(LOADER, [*ORGANISATIONS, *patients]),
        Writes(as_organisation(HOSPITAL_SOR), hospital),
        Writes(as_organisation(OTHER_MUNICIPALITY_SOR), odder),
        Writes(as_organisation(GP_SOR), gp),
        Writes(as_organisation(MUNICIPALITY_SOR), forged),
        Writes(LOADER, [opt_out("opted-out", "hospital")]),
    ]
    plan_ids = [r["id"] for w in writes for r in w.resources if r["resourceType"] == "CarePlan"]
    return DataSet(writes, pids, cprs, plan_ids)


def load(settings: Any, data: DataSet) -> None:
    for writes in data.writes:
        load_writes(settings, writes)


def municipality(tokens: Any, sor: str = MUNICIPALITY_SOR, kommunekode: str = "0615") -> Principal:
    return tokens.principal(
        tokens.system_claims(sor=sor, scopes="system/CarePlan.rs", kommunekode=kommunekode)
    )

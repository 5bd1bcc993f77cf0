"""`GET|POST [base]/$rehabilitation-outcomes`: quality data for a municipality, per quarter.

Counts of the calling municipality's completed genoptræningsplaner and of those followed
by a hospital plan within 30 and 90 days, small cells suppressed (docs/quality-data.md,
OperationDefinition fhir_profiles/OperationDefinition-rehabilitation-outcomes.json).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from app.access.age import today_in_copenhagen
from app.access.quality_data import (
    FOLLOW_UP_DAYS,
    MAX_QUARTERS,
    MIN_CELL,
    PURPOSE_OF_USE,
    PublishedCounts,
    Quarter,
    outcome_grant,
    suppress,
)
from app.fhir.operations import BY_NAME
from app.fhir.outcome import bad_request
from app.fhir.profiles.canonical import SOR_SYSTEM
from app.interactions.request import FhirRequest
from app.interactions.result import Result
from app.interactions.session import Session

# Its URL segment and OperationDefinition, as the operations table states them.
_OPERATION = BY_NAME["rehabilitation-outcomes"]
OUTCOMES_OPERATION = _OPERATION.segment
DEFINITION = _OPERATION.definition
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
_INPUTS = ("from", "to")


def _inputs(req: FhirRequest) -> dict[str, str]:
    """`from` and `to`, from the query or a Parameters body; 400 naming what is wrong."""
    given: list[tuple[str, Any, str]] = [(name, value, name) for name, value in req.query]
    if req.method == "POST" and req.body is not None:
        body = req.body
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise bad_request(
                f"POST {OUTCOMES_OPERATION} takes a Parameters resource", "Parameters"
            )
        parameters = body.get("parameter") or []
        if not isinstance(parameters, list):
            raise bad_request("Parameters.parameter must be an array", "Parameters.parameter")
        for i, p in enumerate(parameters):
            where = f"Parameters.parameter[{i}]"
            if not isinstance(p, dict):
                raise bad_request("A parameter must be an object", where)
            given.append((str(p.get("name")), p.get("valueString"), where))
    found: dict[str, str] = {}
    for name, value, where in given:
        if name not in _INPUTS:
            raise bad_request(f"Unknown parameter '{name}' (expected from, to)", where)
        if name in found:
            raise bad_request(f"The parameter '{name}' is given twice", where)
        if not isinstance(value, str):
            raise bad_request(f"The parameter '{name}' needs a string value (valueString)", where)
        found[name] = value
    return found


def _quarters(req: FhirRequest) -> list[Quarter]:
    inputs = _inputs(req)
    bounds: dict[str, Quarter] = {}
    for name in _INPUTS:
        if name not in inputs:
            raise bad_request(f"The parameter '{name}' is required (a quarter, e.g. 2026-Q1)", name)
        quarter = Quarter.parse(inputs[name])
        if quarter is None:
            raise bad_request(
                f"The parameter '{name}' must be a quarter such as 2026-Q1, not {inputs[name]!r}",
                name,
            )
        bounds[name] = quarter
    first, last = bounds["from"], bounds["to"]
    if last > Quarter.of(today_in_copenhagen()):
        raise bad_request("The parameter 'to' must not be after the current quarter", "to")
    if first > last:
        raise bad_request("The parameter 'from' must not be after 'to'", "from")
    quarters = first.through(last)
    if len(quarters) > MAX_QUARTERS:
        raise bad_request(f"At most {MAX_QUARTERS} quarters per request", "to")
    return quarters


def _cell(name: str, count: int | None) -> dict[str, Any]:
    """A count, or a suppressed one: no value, data-absent-reason `masked`."""
    if count is not None:
        return {"name": name, "valueInteger": count}
    masked = {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}]}
    return {"name": name, "_valueInteger": masked}


def _quarter_parameter(quarter: Quarter, published: PublishedCounts) -> dict[str, Any]:
    follow_up_ends = quarter.last_day.toordinal() + max(FOLLOW_UP_DAYS)
    short, long = FOLLOW_UP_DAYS
    return {
        "name": "quarter",
        "part": [
            {"name": "label", "valueString": str(quarter)},
            {
                "name": "period",
                "valuePeriod": {
                    "start": quarter.first_day.isoformat(),
                    "end": quarter.last_day.isoformat(),
                },
            },
            {
                "name": "followUpComplete",
                "valueBoolean": today_in_copenhagen().toordinal() > follow_up_ends,
            },
            _cell("completedPlans", published.completed),
            _cell(f"hospitalPlanWithin{short}Days", published.within_30),
            _cell(f"hospitalPlanWithin{long}Days", published.within_90),
        ],
    }


async def rehabilitation_outcomes(s: Session, req: FhirRequest) -> Result:
    """The caller's own outcomes; 403 for anyone but a municipality (audited either way)."""
    outcome_grant(s.principal)  # refuse before looking at the parameters
    quarters = _quarters(req)
    grant, counts = await s.repo.rehabilitation_outcomes(quarters)
    s.rule = grant.rule.value
    s.aggregate_purpose = PURPOSE_OF_USE
    s.query = f"{OUTCOMES_OPERATION}?" + urlencode(
        {"from": str(quarters[0]), "to": str(quarters[-1])}
    )
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "definition", "valueCanonical": DEFINITION},
            {
                "name": "municipality",
                "valueIdentifier": {"system": SOR_SYSTEM, "value": grant.municipality_sor},
            },
            {"name": "minimumCellSize", "valueInteger": MIN_CELL},
            *(_quarter_parameter(q, suppress(counts[q])) for q in quarters),
        ],
    }
    return Result(200, body=body)

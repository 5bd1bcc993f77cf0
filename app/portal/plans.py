"""View models of care plans: what a citizen reads on "Mine planer" (docs/profiles.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.portal.labels import (
    ACTIVITY_STATUS,
    GOAL_STATUS,
    GROUP_ORDER,
    PARTY_ROLE,
    PLAN_KINDS,
    PLAN_STATUS,
    PLAN_TYPE,
    day,
    period,
)

PLAN_INCLUDES = ("CarePlan:goal", "CarePlan:condition", "CarePlan:performer")


@dataclass(frozen=True, slots=True)
class Target:
    measure: str
    value: str
    due: str


@dataclass(frozen=True, slots=True)
class Goal:
    text: str
    status: str
    targets: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class Activity:
    description: str
    status: str
    performers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Party:
    role: str
    name: str


@dataclass(frozen=True, slots=True)
class PlanView:
    id: str
    kind: str
    group: str
    title: str
    description: str
    status: str
    period: str
    author: str
    parties: tuple[Party, ...]
    diagnoses: tuple[str, ...]
    goals: tuple[Goal, ...]
    activities: tuple[Activity, ...]
    version: str


@dataclass(frozen=True, slots=True)
class PlanGroup:
    heading: str
    plans: tuple[PlanView, ...] = field(default=())


def _kind(plan: dict[str, Any]) -> tuple[str, str]:
    for concept in plan.get("category", []):
        for coding in concept.get("coding", []):
            if coding.get("system") == PLAN_TYPE and coding.get("code") in PLAN_KINDS:
                return PLAN_KINDS[coding["code"]]
    return ("Andre planer", "Plan")


def _name(ref: Any, orgs: dict[str, dict[str, Any]]) -> str:
    if not isinstance(ref, dict):
        return ""
    if ref.get("display"):
        return str(ref["display"])
    target = orgs.get(str(ref.get("reference", "")))
    if target and target.get("resourceType") == "Patient":
        return "Dig selv"
    return str((target or {}).get("name") or "Ukendt organisation")


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _quantity(target: dict[str, Any]) -> str:
    q = target.get("detailQuantity")
    if isinstance(q, dict) and "value" in q:
        return f"{_number(q['value'])} {q.get('unit', '')}".strip()
    for key in ("detailString", "detailInteger"):
        if key in target:
            return _number(target[key])
    r = target.get("detailRange")
    if isinstance(r, dict):
        low, high = (r.get("low") or {}).get("value"), (r.get("high") or {}).get("value")
        unit = (r.get("high") or r.get("low") or {}).get("unit", "")
        return f"{_number(low)} til {_number(high)} {unit}".strip()
    return _concept(target.get("detailCodeableConcept"))


def _concept(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    codings = concept.get("coding") or [{}]
    return str(codings[0].get("display") or codings[0].get("code") or "")


def _goal(goal: dict[str, Any]) -> Goal:
    targets = tuple(
        Target(
            measure=_concept(t.get("measure")),
            value=_quantity(t),
            due=day(t.get("dueDate")) or str((t.get("dueDuration") or {}).get("value", "")),
        )
        for t in goal.get("target", [])
    )
    return Goal(
        text=_concept(goal.get("description")),
        status=GOAL_STATUS.get(str(goal.get("lifecycleStatus")), ""),
        targets=targets,
    )


def _parties(plan: dict[str, Any]) -> tuple[Party, ...]:
    parties: list[Party] = []
    for res in plan.get("contained", []):
        if res.get("resourceType") != "CareTeam":
            continue
        for p in res.get("participant", []):
            codes = [c.get("code") for r in p.get("role", []) for c in r.get("coding", [])]
            role = next((PARTY_ROLE[c] for c in codes if c in PARTY_ROLE), "Part")
            member = p.get("member") or {}
            parties.append(Party(role, str(member.get("display") or "Ukendt organisation")))
    return tuple(parties)


def plan_view(plan: dict[str, Any], included: dict[str, dict[str, Any]]) -> PlanView:
    group, kind = _kind(plan)
    goals = [included.get(str(g.get("reference"))) for g in plan.get("goal", [])]
    diagnoses: list[str] = []
    for ref in plan.get("addresses", []):
        condition = included.get(str(ref.get("reference")))
        text = _concept(condition.get("code")) if condition else ""
        diagnoses.append(text or str(ref.get("display") or "Diagnose"))
    activities = tuple(
        Activity(
            description=str(detail.get("description") or _concept(detail.get("code"))),
            status=ACTIVITY_STATUS.get(str(detail.get("status")), ""),
            performers=tuple(_name(p, included) for p in detail.get("performer", [])),
        )
        for a in plan.get("activity", [])
        if (detail := a.get("detail") or {})
    )
    return PlanView(
        id=str(plan.get("id")),
        kind=kind,
        group=group,
        title=str(plan.get("title") or kind),
        description=str(plan.get("description") or ""),
        status=PLAN_STATUS.get(str(plan.get("status")), str(plan.get("status") or "")),
        period=period(plan.get("period")),
        author=_name(plan.get("author"), included),
        parties=_parties(plan),
        diagnoses=tuple(diagnoses),
        goals=tuple(_goal(g) for g in goals if g),
        activities=activities,
        version=str((plan.get("meta") or {}).get("versionId", "")),
    )


def group_plans(entries: Iterable[dict[str, Any]]) -> list[PlanGroup]:
    """A search result (with includes) -> plans grouped by kind, in a fixed order."""
    entries = list(entries)
    included = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
        for e in entries
        if "resource" in e and "id" in e["resource"]
    }
    views = [
        plan_view(e["resource"], included)
        for e in entries
        if e.get("resource", {}).get("resourceType") == "CarePlan"
        and (e.get("search") or {}).get("mode", "match") == "match"
    ]
    return [
        PlanGroup(heading, tuple(v for v in views if v.group == heading))
        for heading in GROUP_ORDER
        if any(v.group == heading for v in views)
    ]

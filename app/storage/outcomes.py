"""The rehabilitation-outcome aggregate: counts of a municipality's completed
genoptræningsplaner and of the later hospital plans of their citizens (docs/quality-data.md).

A named aggregate, reached only through `Repository.rehabilitation_outcomes`, which checks
the caller's grant itself. The municipality's own plans are selected under the caller's
security predicate; the later hospital plans of those citizens are looked at only to be
counted, and nothing but counts per quarter leaves this module: no id, no CPR number,
no date of any one plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, FromClause, exists, false, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.access.quality_data import (
    FOLLOW_UP_DAYS,
    OutcomeCounts,
    OutcomeGrant,
    Quarter,
    receiving_municipality,
)
from app.fhir.profiles.canonical import PLAN_TYPE_SYSTEM, REGION_CODE_SYSTEM, SOR_SYSTEM, PlanType
from app.fhir.search.dates import LOCAL_ZONE, date_range
from app.storage.access_facts import compartments, current_versions
from app.storage.records import SecurityPredicate
from app.storage.search_types.date import search_date
from app.storage.tables import compartment, opt_out, resource, search_token, share

_CHUNK = 500
# A plan that never was (entered in error) or is not yet one (draft) is no later contact.
_NOT_A_CONTACT = ("entered-in-error", "draft")
_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class _Completed:
    pk: int
    patients: frozenset[str]
    day: date  # the completion date (Danish local date of period.end)


def _local_day(instant: datetime) -> date:
    return instant.astimezone(LOCAL_ZONE).date()


def _day_start(day: date) -> datetime:
    """The UTC instant a Danish local day begins."""
    return date_range(day.isoformat())[0]


def _token(r: FromClause, param: str, codes: Sequence[str], system: str | None = None) -> Any:
    t = search_token.alias()
    conditions = [t.c.res_pk == r.c.pk, t.c.param == param, t.c.code.in_(codes)]
    if system is not None:
        conditions.append(t.c.system == system)
    return exists(select(literal(1)).where(*conditions).correlate_except(t))


def _names_as_party(r: FromClause, sor: str) -> ColumnElement[bool]:
    """The plan's author named the organisation as a party (a `share` row of the plan)."""
    s = share.alias()
    return exists(
        select(literal(1))
        .where(
            s.c.res_pk == r.c.pk,
            s.c.org_sor == sor,
            s.c.target_type == r.c.res_type,
            s.c.target_id == r.c.res_id,
        )
        .correlate_except(s)
    )


def _ends_between(r: FromClause, low: datetime, high: datetime) -> ColumnElement[bool]:
    d = search_date.alias()
    return exists(
        select(literal(1))
        .where(d.c.res_pk == r.c.pk, d.c.param == "date", d.c.high > low, d.c.high <= high)
        .correlate_except(d)
    )


def _written_by_a_region(r: FromClause) -> ColumnElement[bool]:
    """The organisation that created the row (server-set `author_sor`) is a region's: an
    Organization with its SOR code and a regionskode, recorded by an operator or by itself."""
    o, sor, region = resource.alias(), search_token.alias(), search_token.alias()
    return exists(
        select(literal(1))
        .select_from(o.join(sor, sor.c.res_pk == o.c.pk).join(region, region.c.res_pk == o.c.pk))
        .where(
            o.c.res_type == "Organization",
            o.c.deleted == false(),
            or_(o.c.author_sor.is_(None), o.c.author_sor == r.c.author_sor),
            sor.c.param == "identifier",
            sor.c.system == SOR_SYSTEM,
            sor.c.code == r.c.author_sor,
            region.c.param == "identifier",
            region.c.system == REGION_CODE_SYSTEM,
        )
        .correlate_except(o, sor, region)
    )


async def _completed_plans(
    conn: AsyncConnection,
    grant: OutcomeGrant,
    visible: SecurityPredicate,
    quarters: Sequence[Quarter],
) -> list[_Completed]:
    """The municipality's completed genoptræningsplaner ending in `quarters`, as the caller
    may see them (its security predicate for a search), with the receiving municipality
    read from each plan's care team."""
    first, last = quarters[0].first_day, quarters[-1].last_day
    rows = await conn.execute(
        current_versions(
            resource.c.res_type == "CarePlan",
            _token(resource, "category", [PlanType.REHABILITATION_PLAN], PLAN_TYPE_SYSTEM),
            _token(resource, "status", ["completed"]),
            _names_as_party(resource, grant.municipality_sor),
            _ends_between(resource, _day_start(first), _day_start(last + timedelta(days=1))),
            visible("CarePlan", resource),
        ).add_columns(resource.c.pk)
    )
    wanted = set(quarters)
    found: list[tuple[int, date]] = []
    for _, content, pk in rows.all():
        end = (content.get("period") or {}).get("end")
        if receiving_municipality(content) != grant.municipality_sor or not isinstance(end, str):
            continue
        day = _local_day(date_range(end)[1] - _ONE_MICROSECOND)
        if Quarter.of(day) in wanted:
            found.append((int(pk), day))
    patients = await compartments(conn, (pk for pk, _ in found))
    return [_Completed(pk, frozenset(patients.get(pk, ())), day) for pk, day in found]


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


async def _opted_out(conn: AsyncConnection, patients: Iterable[str], now: datetime) -> set[str]:
    """Patients with any active opt-out (negativt samtykke), whoever and whatever it names."""
    found: set[str] = set()
    for chunk in _chunks(patients):
        rows = await conn.execute(
            select(opt_out.c.patient_id)
            .where(
                opt_out.c.patient_id.in_(chunk),
                or_(opt_out.c.period_start.is_(None), opt_out.c.period_start <= now),
                or_(opt_out.c.period_end.is_(None), opt_out.c.period_end > now),
            )
            .distinct()
        )
        found.update(str(p) for p in rows.scalars())
    return found


async def _later_hospital_plans(
    conn: AsyncConnection, patients: Iterable[str], first: date, last: date
) -> dict[str, list[tuple[int, date]]]:
    """(pk, start date) of the CarePlans a region's organisation wrote for these patients,
    starting from `first` to `last` plus the longest follow-up (counted, never shown)."""
    plan, member, period = resource.alias(), compartment.alias(), search_date.alias()
    low = _day_start(first)
    high = _day_start(last + timedelta(days=max(FOLLOW_UP_DAYS) + 1))
    found: dict[str, list[tuple[int, date]]] = {}
    for chunk in _chunks(patients):
        rows = await conn.execute(
            select(member.c.patient_id, plan.c.pk, period.c.low)
            .select_from(
                plan.join(member, member.c.res_pk == plan.c.pk).join(
                    period, period.c.res_pk == plan.c.pk
                )
            )
            .where(
                plan.c.res_type == "CarePlan",
                plan.c.deleted == false(),
                member.c.patient_id.in_(chunk),
                period.c.param == "date",
                period.c.low >= low,
                period.c.low < high,
                ~_token(plan, "status", _NOT_A_CONTACT),
                _written_by_a_region(plan),
            )
        )
        for patient, pk, start in rows.all():
            found.setdefault(str(patient), []).append((int(pk), _local_day(start)))
    return found


async def rehabilitation_outcomes(
    conn: AsyncConnection,
    grant: OutcomeGrant,
    visible: SecurityPredicate,
    quarters: Sequence[Quarter],
    now: datetime,
) -> dict[Quarter, OutcomeCounts]:
    """Per quarter: the municipality's completed plans and how many of them were followed by
    a hospital plan starting 0-30 and 0-90 days after the completion date. Citizens with an
    active opt-out are left out of every count."""
    plans = await _completed_plans(conn, grant, visible, quarters)
    excluded = await _opted_out(conn, (p for c in plans for p in c.patients), now)
    plans = [c for c in plans if not c.patients & excluded]
    later = await _later_hospital_plans(
        conn, (p for c in plans for p in c.patients), quarters[0].first_day, quarters[-1].last_day
    )
    short, long = FOLLOW_UP_DAYS
    tallies = {q: [0, 0, 0] for q in quarters}
    for completed in plans:
        gaps = [
            (start - completed.day).days
            for patient in completed.patients
            for pk, start in later.get(patient, ())
            if pk != completed.pk
        ]
        tally = tallies[Quarter.of(completed.day)]
        tally[0] += 1
        tally[1] += any(0 <= gap <= short for gap in gaps)
        tally[2] += any(0 <= gap <= long for gap in gaps)
    return {q: OutcomeCounts(*tally) for q, tally in tallies.items()}

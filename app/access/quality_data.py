"""Quality data for municipalities (the 2022 health reform's data theme): who may ask for
the rehabilitation-outcome aggregate, which plans are a municipality's, and how small
cells are suppressed. Pure; the definition and the reasoning are in docs/quality-data.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from app.access.decision import AccessDenied
from app.access.principal import Principal
from app.access.references import contained_of, sor_of
from app.access.rules import Rule
from app.access.scopes import ScopeNotGranted
from app.fhir.profiles.canonical import PARTY_ROLE_SYSTEM

# A count of 1-4 is never published, nor a count that subtraction would reveal as 1-4.
MIN_CELL = 5
FOLLOW_UP_DAYS = (30, 90)
# At most ten years per request: a bounded query.
MAX_QUARTERS = 40
# v3 ActReason HQUALIMP "health quality improvement": the purpose of use audited.
PURPOSE_OF_USE = "HQUALIMP"
_QUARTER = re.compile(r"(?P<year>[0-9]{4})-Q(?P<q>[1-4])")


@dataclass(frozen=True, slots=True, order=True)
class Quarter:
    """A calendar quarter (Danish local dates): `2026-Q1` is 1 January to 31 March 2026."""

    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Quarter | None:
        match = _QUARTER.fullmatch(text)
        if match is None or int(match["year"]) < 1900:
            return None
        return cls(int(match["year"]), int(match["q"]))

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last_day(self) -> date:
        following = self.next()
        return following.first_day - timedelta(days=1)

    def next(self) -> Quarter:
        return (
            Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)
        )

    def through(self, last: Quarter) -> list[Quarter]:
        """This quarter up to and including `last`."""
        found: list[Quarter] = []
        current = self
        while current <= last:
            found.append(current)
            current = current.next()
        return found

    def __str__(self) -> str:
        return f"{self.year}-Q{self.number}"


@dataclass(frozen=True, slots=True)
class OutcomeGrant:
    """The aggregate a municipality may ask for: outcomes of its own plans, as counts."""

    rule: Rule
    municipality_sor: str


def outcome_grant(principal: Principal) -> OutcomeGrant:
    """A municipality's system or professional token with an unrestricted CarePlan search
    scope; anyone else is refused (AccessDenied names the rule)."""
    if not principal.is_organisation or principal.org_sor is None:
        raise AccessDenied(
            Rule.QUALITY_DATA_MUNICIPALITIES_ONLY,
            "Rehabilitation outcomes are for a municipality's system or professional token",
        )
    if not principal.org_kommunekode:
        raise AccessDenied(
            Rule.QUALITY_DATA_MUNICIPALITIES_ONLY,
            "Rehabilitation outcomes are for municipalities (the token has no dk_org_kommunekode)",
        )
    if principal.override_reason:
        raise AccessDenied(
            Rule.QUALITY_DATA_MUNICIPALITIES_ONLY,
            "An emergency override (værdispring) is for treating a patient, not for quality data",
        )
    try:
        granular = principal.scopes.granular_filters("CarePlan", "search")
    except ScopeNotGranted:
        raise AccessDenied(Rule.SCOPE, "Rehabilitation outcomes need CarePlan search (s)") from None
    if granular is not None:
        # A scope narrowed to chosen patients would let two answers be subtracted.
        raise AccessDenied(
            Rule.SCOPE, "Rehabilitation outcomes need an unrestricted CarePlan search scope"
        )
    return OutcomeGrant(Rule.QUALITY_DATA, principal.org_sor)


def receiving_municipality(plan: dict[str, Any]) -> str | None:
    """The SOR code of the plan's receiving municipality: the participant with party-role
    `municipality` of its contained CareTeam (esp-rehabilitation-careteam: exactly one)."""
    contained = contained_of(plan)
    found: set[str] = set()
    for team_ref in plan.get("careTeam") or []:
        team = contained.get(str(team_ref.get("reference"))) if isinstance(team_ref, dict) else None
        if not team or team.get("resourceType") != "CareTeam":
            continue
        for participant in team.get("participant") or []:
            if isinstance(participant, dict) and _is_municipality(participant.get("role")):
                sor = sor_of((participant.get("member") or {}).get("identifier"))
                if sor:
                    found.add(sor)
    # Two receiving municipalities would make the plan nobody's: it is not counted.
    return found.pop() if len(found) == 1 else None


def _is_municipality(roles: Any) -> bool:
    return any(
        coding.get("system") == PARTY_ROLE_SYSTEM and coding.get("code") == "municipality"
        for role in (roles if isinstance(roles, list) else [])
        if isinstance(role, dict)
        for coding in role.get("coding") or []
        if isinstance(coding, dict)
    )


@dataclass(frozen=True, slots=True)
class OutcomeCounts:
    """One quarter's true counts (never leave the service as they are)."""

    completed: int = 0
    within_30: int = 0
    within_90: int = 0


@dataclass(frozen=True, slots=True)
class PublishedCounts:
    """What may be published of one quarter; None is a suppressed cell."""

    completed: int | None
    within_30: int | None
    within_90: int | None


def _safe(count: int) -> bool:
    return count == 0 or count >= MIN_CELL


def suppress(counts: OutcomeCounts) -> PublishedCounts:
    """Primary and complementary suppression of one quarter (docs/quality-data.md).

    The three published counts n >= b >= a split the plans into three groups: a (a hospital
    plan within 30 days), b - a (within 31-90 days) and n - b (none within 90 days). Every
    group a caller could compute from what is published must be 0 or at least MIN_CELL:
    n, a and b all published reveal all three groups; n and a alone reveal a and n - a;
    n and b alone reveal b and n - b. The first of these that is safe is published.
    """
    n, a, b = counts.completed, counts.within_30, counts.within_90
    if not _safe(n):
        return PublishedCounts(None, None, None)
    if _safe(a) and _safe(b - a) and _safe(n - b):
        return PublishedCounts(n, a, b)
    if _safe(a) and _safe(n - a):
        return PublishedCounts(n, a, None)
    if _safe(b) and _safe(n - b):
        return PublishedCounts(n, None, b)
    return PublishedCounts(n, None, None)

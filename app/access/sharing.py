"""What a plan shares, and with whom (docs/authorization.md, source (b)).

A plan's author shares it by naming organisations as parties: a CarePlan's care team
members, activity performers and contributors, a referral's (ServiceRequest) performer,
a CareTeam's participants. The named organisation then sees the plan and what the plan
leads to (its Patient, Conditions, Goals, CareTeam, activity references), but never more
than the author may see itself; that limit is applied when data is read, not here.

The same references carry the hidden-from-custody-holder label forward (sundhedsloven
§37 stk. 2): a label protects what it leads to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.access.references import Contained, OrgRef, contained_of, local_target, organisation_ref

SHARING_TYPES = frozenset({"CarePlan", "ServiceRequest", "CareTeam"})
# Types a hidden resource's label is never carried to: the child's own record, and plans,
# which carry their own label.
_NEVER_LED_TO = frozenset({"Patient", "CarePlan"})


@dataclass(frozen=True, slots=True)
class Sharing:
    """The parties a resource names and the resources it leads to (`(type, id)`)."""

    parties: tuple[OrgRef, ...]
    targets: tuple[tuple[str, str], ...]

    @property
    def led_to(self) -> tuple[tuple[str, str], ...]:
        """The targets a hidden-from-custody label is carried to."""
        return tuple(t for t in self.targets if t[0] not in _NEVER_LED_TO)


def _refs(node: Any) -> list[Any]:
    if node is None:
        return []
    return node if isinstance(node, list) else [node]


def _team_parties(team: dict[str, Any], contained: Contained) -> Iterator[OrgRef | None]:
    if team.get("status") == "entered-in-error":
        return
    for participant in _refs(team.get("participant")):
        if isinstance(participant, dict):
            yield organisation_ref(participant.get("member"), contained)
            yield organisation_ref(participant.get("onBehalfOf"), contained)
    for org in _refs(team.get("managingOrganization")):
        yield organisation_ref(org, contained)


def _care_plan(plan: dict[str, Any], contained: Contained) -> tuple[list[Any], list[Any]]:
    parties: list[OrgRef | None] = [
        organisation_ref(ref, contained)
        for ref in [plan.get("author"), *_refs(plan.get("contributor"))]
    ]
    targets: list[Any] = [
        plan.get("subject"),
        *_refs(plan.get("addresses")),
        *_refs(plan.get("goal")),
        *_refs(plan.get("supportingInfo")),
    ]
    for team_ref in _refs(plan.get("careTeam")):
        team = (
            contained.get(str(team_ref.get("reference", "")))
            if isinstance(team_ref, dict)
            else None
        )
        if team and team.get("resourceType") == "CareTeam":
            parties.extend(_team_parties(team, contained))
        else:
            targets.append(team_ref)
    for activity in _refs(plan.get("activity")):
        if not isinstance(activity, dict):
            continue
        targets.append(activity.get("reference"))
        detail = activity.get("detail") or {}
        parties.extend(organisation_ref(p, contained) for p in _refs(detail.get("performer")))
        targets.extend([*_refs(detail.get("goal")), *_refs(detail.get("reasonReference"))])
    return parties, targets


def plan_sharing(resource: dict[str, Any]) -> Sharing | None:
    """What `resource` shares; None for a type that shares nothing or entered in error."""
    rtype = resource.get("resourceType")
    if rtype not in SHARING_TYPES or resource.get("status") == "entered-in-error":
        return None
    contained = contained_of(resource)
    parties: list[OrgRef | None]
    if rtype == "CarePlan":
        parties, targets = _care_plan(resource, contained)
    elif rtype == "ServiceRequest":
        parties = [organisation_ref(p, contained) for p in _refs(resource.get("performer"))]
        targets = [
            resource.get("subject"),
            *_refs(resource.get("reasonReference")),
            *_refs(resource.get("supportingInfo")),
        ]
    else:
        parties = list(_team_parties(resource, contained))
        targets = [resource.get("subject")]
    found = [t for t in (local_target(ref) for ref in targets) if t is not None]
    return Sharing(
        parties=tuple(dict.fromkeys(p for p in parties if p is not None)),
        targets=tuple(dict.fromkeys(found)),
    )

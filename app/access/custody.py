"""Parental access (forældremyndighed): sundhedsloven §39a, §39b and §37 stk. 2.

A custody holder sees a child's data digitally only with verified custody
(RelatedPerson with relationship PARAUTH written by a custody authority, or the
custody registry's confirmation; not merely MTH/FTH), only while the
child is under 15 (in Europe/Copenhagen), unless a professional has recorded
that the child cannot look after their own interests (§39b), and never data
a clinician has labelled hidden from custody holders (§37 stk. 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.access.age import birth_date_from_cpr, is_under
from app.access.rules import Rule
from app.fhir.profiles.canonical import CPR_SYSTEM

RELATIONSHIP_SYSTEM = "http://hl7.dk/fhir/core/CodeSystem/dk-relatedperson-relationshipcodes"
CUSTODY_CODE = "PARAUTH"
# Recorded by a professional on the custody RelatedPerson (docs/authorization.md, §39b).
CONTINUED_AFTER_15_URL = (
    "http://esp-careplans.dk/fhir/StructureDefinition/custody-continues-after-15"
)
DIGITAL_ACCESS_AGE = 15
MAJORITY = 18


@dataclass(frozen=True, slots=True)
class Child:
    """The child's Patient record(s), as far as custody needs them."""

    patient_ids: tuple[str, ...]
    birth_date: date | None


@dataclass(frozen=True, slots=True)
class CustodyDecision:
    allowed: bool
    rule: Rule
    message: str
    patient_ids: tuple[str, ...] = ()


def _covers(period: Any, today: date) -> bool:
    if not isinstance(period, dict):
        return True
    start, end = period.get("start"), period.get("end")
    if isinstance(start, str) and date.fromisoformat(start[:10]) > today:
        return False
    return not (isinstance(end, str) and date.fromisoformat(end[:10]) < today)


def is_custody_record(resource: dict[str, Any] | None) -> bool:
    """A RelatedPerson coded PARAUTH: only a custody authority may write one (§39a)."""
    if resource is None or resource.get("resourceType") != "RelatedPerson":
        return False
    return any(
        isinstance(coding, dict)
        and coding.get("system") == RELATIONSHIP_SYSTEM
        and coding.get("code") == CUSTODY_CODE
        for concept in resource.get("relationship", [])
        if isinstance(concept, dict)
        for coding in concept.get("coding", [])
    )


def _is_custody_of(related: dict[str, Any], parent_cpr: str, today: date) -> bool:
    """An active PARAUTH RelatedPerson of the parent's CPR, valid today."""
    if related.get("active") is False or not _covers(related.get("period"), today):
        return False
    custody = is_custody_record(related)
    parent = any(
        ident.get("system") == CPR_SYSTEM and ident.get("value") == parent_cpr
        for ident in related.get("identifier", [])
    )
    return custody and parent


def _continued_after_15(related: dict[str, Any]) -> bool:
    return any(
        ext.get("url") == CONTINUED_AFTER_15_URL and ext.get("valueBoolean") is True
        for ext in related.get("extension", [])
    )


def decide_custody(
    *,
    parent_cpr: str,
    child_cpr: str,
    child: Child,
    related_persons: Sequence[dict[str, Any]],
    today: date,
    registry_confirms: bool = False,
) -> CustodyDecision:
    """May `parent_cpr` see `child_cpr`'s data today? Fails closed.

    `related_persons`: the child's custody records written by a custody authority (the
    caller reads only those); `registry_confirms`: the custody registry's answer.
    """
    holders = [r for r in related_persons if _is_custody_of(r, parent_cpr, today)]
    if not holders and not registry_confirms:
        return CustodyDecision(False, Rule.NO_CUSTODY, "No verified custody of this child")
    if not child.patient_ids:
        return CustodyDecision(False, Rule.NO_CUSTODY, "The child is not known to this service")
    birth = child.birth_date or birth_date_from_cpr(child_cpr)
    if is_under(birth, DIGITAL_ACCESS_AGE, today):
        return CustodyDecision(True, Rule.CUSTODY, "Custody of a child under 15", child.patient_ids)
    if is_under(birth, MAJORITY, today) and any(_continued_after_15(r) for r in holders):
        return CustodyDecision(
            True, Rule.CONTINUED_AFTER_15, "Custody continued after 15 (§39b)", child.patient_ids
        )
    return CustodyDecision(
        False,
        Rule.CHILD_15_OR_OVER,
        "Digital access for custody holders ends when the child turns 15 (sundhedsloven §39a)",
    )

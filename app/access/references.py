"""Organisation references inside a resource: by SOR identifier, contained, or Organization/id.

Shared by what a plan shares (sharing.py), relation records (treatment_relation.py) and
opt-outs (opt_out.py), so the three read organisations the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.fhir.profiles.canonical import SOR_SYSTEM

Contained = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class OrgRef:
    """An organisation named by SOR, or by a local reference whose SOR is looked up."""

    sor: str | None = None
    organization_id: str | None = None


def contained_of(resource: dict[str, Any]) -> Contained:
    """The contained resources by their local reference (`#id`)."""
    return {
        f"#{c['id']}": c
        for c in resource.get("contained", [])
        if isinstance(c, dict) and isinstance(c.get("id"), str)
    }


def sor_of(identifiers: Any) -> str | None:
    for ident in identifiers if isinstance(identifiers, list) else [identifiers]:
        if isinstance(ident, dict) and ident.get("system") == SOR_SYSTEM and ident.get("value"):
            return str(ident["value"])
    return None


def organisation_ref(ref: Any, contained: Contained) -> OrgRef | None:
    """An Organization reference → OrgRef (by SOR identifier, contained, or Organization/id)."""
    if not isinstance(ref, dict):
        return None
    sor = sor_of(ref.get("identifier"))
    target = ref.get("reference")
    if sor is not None and ref.get("type") in (None, "Organization"):
        return OrgRef(sor=sor)
    if isinstance(target, str):
        if target.startswith("#"):
            found = contained.get(target)
            if found and found.get("resourceType") == "Organization":
                sor = sor_of(found.get("identifier"))
                return OrgRef(sor=sor) if sor else None
            return None
        parts = target.split("/")
        if len(parts) >= 2 and parts[-2] == "Organization":
            return OrgRef(organization_id=parts[-1])
    return None


def local_target(ref: Any) -> tuple[str, str] | None:
    """(type, id) of a relative `Type/id` reference; None for contained, absolute or logical."""
    if not isinstance(ref, dict):
        return None
    target = ref.get("reference")
    if not isinstance(target, str) or target.startswith("#") or ":" in target:
        return None
    parts = target.split("/")
    if len(parts) == 2 and parts[0][:1].isupper() and parts[1]:
        return parts[0], parts[1]
    if len(parts) == 4 and parts[2] == "_history" and parts[0][:1].isupper():
        return parts[0], parts[1]
    return None

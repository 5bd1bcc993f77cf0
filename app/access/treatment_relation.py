"""Relation records: what a relation authority's resource says about who treats whom.

A treatment relation (sundhedsloven §42a) opens all of a patient's data to an
organisation. It comes only from evidence recorded by a relation authority
(ESP_RELATION_AUTHORITIES: the regions' contact feed, the GP list), or from the
external treatment-relation service; never from writing (docs/authorization.md).
"""

from __future__ import annotations

from typing import Any

from app.access.references import OrgRef, contained_of, organisation_ref

# R4 EpisodeOfCare.status: an episode that has not ended.
_OPEN_EPISODE = frozenset({"planned", "waitlist", "active", "onhold"})


def relation_records(resource: dict[str, Any]) -> list[OrgRef]:
    """The organisations this record (if written by a relation authority) relates to its patient.

    An open EpisodeOfCare relates its managing organisation (a hospital contact); a
    Patient's `generalPractitioner` Organization is the GP the citizen is listed with.
    """
    rtype = resource.get("resourceType")
    contained = contained_of(resource)
    found: list[OrgRef | None] = []
    if rtype == "EpisodeOfCare" and resource.get("status") in _OPEN_EPISODE:
        found.append(organisation_ref(resource.get("managingOrganization"), contained))
    elif rtype == "Patient" and resource.get("active") is not False:
        found.extend(
            organisation_ref(gp, contained) for gp in resource.get("generalPractitioner", [])
        )
    return list(dict.fromkeys(ref for ref in found if ref is not None))

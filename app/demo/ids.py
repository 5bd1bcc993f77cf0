"""Stable ids for the demo: the same UUID for the same thing on every load."""

from __future__ import annotations

import uuid

DEMO_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "http://esp-careplans.dk/demo")
URI_SYSTEM = "urn:ietf:rfc:3986"


def demo_uuid(*parts: str) -> str:
    """A name-based UUID (RFC 4122 v5) for `parts`, e.g. ("CarePlan", "einer-kol")."""
    return str(uuid.uuid5(DEMO_NAMESPACE, "/".join(parts)))


def demo_identifier(*parts: str) -> dict[str, str]:
    """The record identifier conditional creates match on (docs/profiles.md §8)."""
    return {"system": URI_SYSTEM, "value": f"urn:uuid:{demo_uuid(*parts)}"}

"""A person's name for people to read (R4 datatypes.html#HumanName)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def display_name(resource: Mapping[str, Any]) -> str:
    """Given names and family of the `official` name (else the first); "" when there is none."""
    names = [n for n in resource.get("name") or [] if isinstance(n, dict)]
    if not names:
        return ""
    name = next((n for n in names if n.get("use") == "official"), names[0])
    given = [str(g) for g in name.get("given", [])]
    return " ".join([*given, str(name.get("family", ""))]).strip()

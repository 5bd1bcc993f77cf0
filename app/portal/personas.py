"""The development personas on the login page.

The demo data's machine-readable list (`app.demo.personas.PERSONAS`, one entry per
person and child) is grouped into one login per citizen; without it, FALLBACK lists the
same MedCom test persons. `children` are the candidates a CPR lookup would name; the API
decides which custody is verified.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Child:
    cpr: str
    name: str


@dataclass(frozen=True, slots=True)
class Persona:
    key: str
    name: str
    cpr: str
    description: str
    children: tuple[Child, ...] = field(default=())


FALLBACK: tuple[Persona, ...] = (
    Persona("pia", "Pia Berggren", "0505059996", "Borger med egne planer"),
    Persona(
        "kirsten",
        "Kirsten Berggren",
        "2911829996",
        "Forælder med forældremyndighed over fire børn",
        (
            Child("0505159995", "Lars Berggren"),
            Child("0505209996", "Rikke Berggren"),
            Child("0505239996", "Aya Berggren"),
            Child("0505109990", "Gitte Nancy Berggren"),
        ),
    ),
    Persona(
        "anders",
        "Anders Jensen",
        "3103979995",
        "Forælder uden forældremyndighed",
        (Child("3101229995", "Ali Jensen"),),
    ),
    Persona("gitte", "Gitte Nancy Berggren", "0505109990", "16 år, bruger portalen selv"),
)


CITIZEN_ROLES = ("citizen", "custody-parent", "parent-without-custody", "teenager")
DESCRIPTIONS = {
    "custody-parent": "Forælder med forældremyndighed",
    "parent-without-custody": "Forælder uden forældremyndighed",
}


def _first_name_of_child(label: str) -> str:
    """'Kirsten Berggren (for Lars, 11 år)' -> 'Lars'."""
    match = re.search(r"\(for ([^,)]+)", label)
    return match.group(1).strip() if match else "Barn"


def _from_demo(items: Iterable[Any]) -> tuple[Persona, ...]:
    """One login per citizen of app.demo.personas (which has one entry per person and child)."""
    people: dict[str, dict[str, Any]] = {}
    for item in items:
        role, cpr = getattr(item, "role", None), getattr(item, "cpr", None)
        if role not in CITIZEN_ROLES or not isinstance(cpr, str):
            continue
        name = str(getattr(item, "name", ""))
        person = people.setdefault(
            cpr,
            {
                "key": str(getattr(item, "key", cpr[-4:])).split("-")[0],
                "name": name.split(" (")[0],
                "description": "",
                "roles": [],
                "children": [],
            },
        )
        person["roles"].append(str(role))
        child = getattr(item, "acts_for_cpr", None)
        if isinstance(child, str):
            person["children"].append(Child(child, _first_name_of_child(name)))
        else:
            person.update(key=str(getattr(item, "key", person["key"])), name=name.split(" (")[0])
            person["description"] = str(getattr(item, "description", "")) or person["description"]
    return tuple(
        Persona(p["key"], p["name"], cpr, _describe(p), tuple(p["children"]))
        for cpr, p in people.items()
    )


def _describe(person: dict[str, Any]) -> str:
    role = next((DESCRIPTIONS[r] for r in person["roles"] if r in DESCRIPTIONS), "")
    names = [c.name for c in person["children"]]
    about = f"{role}: {', '.join(names)}." if role and names else ""
    return " ".join(x for x in (about, person["description"]) if x)


def personas() -> tuple[Persona, ...]:
    """The demo data's persona list if present, otherwise FALLBACK."""
    try:
        # Data only, loaded at run time: the demo package may import the loader, which the
        # portal must not depend on (import-linter contract in pyproject.toml).
        module = importlib.import_module("app.demo.personas")
    except ImportError:
        return FALLBACK
    return _from_demo(getattr(module, "PERSONAS", ())) or FALLBACK


def persona(key: str) -> Persona | None:
    return next((p for p in personas() if p.key == key), None)

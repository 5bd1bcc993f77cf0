"""Loads the demo set through app.cli.load_bundle: the same code path as POST /fhir."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.demo.families import families_bundle
from app.demo.opt_out import opt_out_bundle
from app.demo.organisations import organisations_bundle
from app.demo.plan_bundle import plan_bundle
from app.demo.plans import PLANS
from app.loader import database_has_patients, load_bundle
from app.settings import Settings

# The five examples of docs/profiles.md, loaded as they are so the demo and examples agree.
EXAMPLES = (
    "Bundle-discharge-agreement.json",
    "Bundle-coordination-plan.json",
    "Bundle-pathway-plan-copd.json",
    "Bundle-pathway-plan-t2d.json",
    "Bundle-rehabilitation-plan.json",
)


@dataclass(slots=True)
class DemoReport:
    """What a load did: bundles sent, and entries by response status."""

    skipped: bool = False
    bundles: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def created(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("201"))

    @property
    def unchanged(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("200"))

    def summary(self) -> str:
        if self.skipped:
            return "demo data not loaded: the database already holds patients (--if-empty)"
        return (
            f"demo data: {len(self.bundles)} bundles, {self.created} resources created, "
            f"{self.unchanged} already there"
        )


def demo_bundles(profiles_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, transaction Bundle) in load order: organisations and people before plans."""
    yield "organisations", organisations_bundle()
    yield "families", families_bundle()
    for name in EXAMPLES:
        yield name, json.loads((profiles_dir / "examples" / name).read_text(encoding="utf-8"))
    for plan in PLANS:
        yield plan.key, plan_bundle(plan)
    yield "opt-out", opt_out_bundle()


async def load_demo(settings: Settings, *, if_empty: bool) -> DemoReport:
    """Load the demo set; with `if_empty`, only into a database without any Patient.

    Every entry is a conditional create, so a second load creates nothing and makes no
    new versions. A bundle that fails raises the server's FhirError (nothing of it stored).
    """
    report = DemoReport()
    if if_empty and await database_has_patients(settings):
        report.skipped = True
        return report
    for name, bundle in demo_bundles(settings.profiles_dir):
        response = await load_bundle(settings, bundle)
        report.bundles.append(name)
        report.statuses.update(
            str(e.get("response", {}).get("status", "")) for e in response.get("entry", [])
        )
    return report

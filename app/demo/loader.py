"""Loads the demo set through app.loader.load_bundle: the same code path as POST /fhir.

Each bundle is written by the organisation that would write it in production, as that
organisation (its author): the registry feeds record people, custody, GP listings and
contacts; each plan's author department or practice pushes its plan. Access in the demo
then follows from evidence exactly as in production (docs/authorization.md).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.access.principal import Principal
from app.demo.contacts import contacts_bundle
from app.demo.families import cpr_of, families_bundle, patients
from app.demo.opt_out import OPT_OUT_BY, opt_out_bundle
from app.demo.organisations import CONTACT_FEED, CPR_REGISTRY, HORSENS, organisations_bundle
from app.demo.personas import CITIZEN_SELF_SCOPES
from app.demo.plan_bundle import plan_bundle
from app.demo.plans import PLANS
from app.demo.subscription import subscription_bundle
from app.fhir.profiles.canonical import SOR_SYSTEM
from app.loader import LOADER, as_organisation, database_has_patients, load_bundle
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
    """What a load did: bundles sent, entries by response status, and resources by outcome.

    Bundles name the same resources (a plan's bundle carries its patient and author as
    conditional creates), so entries are counted as distinct resources: those this load
    created and those the database held before it (a `200 OK` for a resource an earlier
    bundle of the same load created is neither).
    """

    skipped: bool = False
    bundles: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    created_here: set[str] = field(default_factory=set)  # "Type/id"
    there_before: set[str] = field(default_factory=set)

    @property
    def created(self) -> int:
        return len(self.created_here)

    @property
    def unchanged(self) -> int:
        return len(self.there_before)

    def record(self, name: str, response: dict[str, Any]) -> None:
        self.bundles.append(name)
        for entry in response.get("entry", []):
            answer = entry.get("response", {})
            status = str(answer.get("status", ""))
            self.statuses[status] += 1
            resource = _resource_of(str(answer.get("location", "")))
            if status.startswith("201"):
                self.created_here.add(resource)
            elif resource not in self.created_here:
                self.there_before.add(resource)

    def summary(self) -> str:
        if self.skipped:
            return "demo data not loaded: the database already holds patients (--if-empty)"
        if not self.created:
            return (
                f"demo data already loaded: its {self.unchanged} resources "
                f"({len(self.bundles)} bundles) were all there; nothing changed"
            )
        there = f"; {self.unchanged} were already there" if self.unchanged else ""
        return f"demo data loaded: {self.created} resources in {len(self.bundles)} bundles{there}"


_LOCATION = re.compile(r"(?:^|/)([A-Z][A-Za-z]+/[A-Za-z0-9.-]{1,64})(?:/_history/[^/]+)?$")


def _resource_of(location: str) -> str:
    """`Type/id` of a response location (`<base>/Type/id[/_history/v]`, R4 bundle.html)."""
    match = _LOCATION.search(location)
    return match.group(1) if match else location


@dataclass(frozen=True, slots=True)
class DemoBundle:
    """One transaction of the demo set and who writes it."""

    name: str
    bundle: dict[str, Any]
    writer: Principal


def example_author_sor(bundle: dict[str, Any]) -> str:
    """The SOR code of the organisation a profile example's CarePlan names as author."""
    by_url = {e.get("fullUrl"): e["resource"] for e in bundle["entry"]}
    plan = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan"
    )
    author = by_url[plan["author"]["reference"]]
    return str(next(i["value"] for i in author["identifier"] if i["system"] == SOR_SYSTEM))


def demo_bundles(settings: Settings) -> Iterator[DemoBundle]:
    """The demo set in load order: organisations and people before contacts and plans;
    Horsens Kommune's subscription before the plans it is to be notified of."""
    profiles_dir = settings.profiles_dir
    # The organisations themselves (SOR registry data) are set up by the operator.
    yield DemoBundle("organisations", organisations_bundle(), LOADER)
    yield DemoBundle("families", families_bundle(), as_organisation(CPR_REGISTRY.sor))
    yield DemoBundle("contacts", contacts_bundle(), as_organisation(CONTACT_FEED.sor))
    yield DemoBundle(
        "subscription", subscription_bundle(settings.port), as_organisation(HORSENS.sor)
    )
    for name in EXAMPLES:
        bundle = json.loads((profiles_dir / "examples" / name).read_text(encoding="utf-8"))
        yield DemoBundle(name, bundle, as_organisation(example_author_sor(bundle)))
    for plan in PLANS:
        yield DemoBundle(plan.key, plan_bundle(plan), as_organisation(plan.author.sor))
    # Einer's own opt-out, as he would record it at sundhed.dk ("Min spærring").
    einer = Principal.citizen_self(cpr_of(patients()[OPT_OUT_BY]), scopes=CITIZEN_SELF_SCOPES)
    yield DemoBundle("opt-out", opt_out_bundle(), einer)


async def load_demo(settings: Settings, *, if_empty: bool) -> DemoReport:
    """Load the demo set; with `if_empty`, only into a database without any Patient.

    Every entry is a conditional create, so a second load creates nothing and makes no
    new versions. A bundle that fails raises the server's FhirError (nothing of it stored).
    """
    report = DemoReport()
    if if_empty and await database_has_patients(settings):
        report.skipped = True
        return report
    for item in demo_bundles(settings):
        report.record(item.name, await load_bundle(settings, item.bundle, principal=item.writer))
    return report

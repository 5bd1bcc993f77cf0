""" "Ændringer": the versions of a plan (`_history`) and what changed between them.

Who made a version comes from the AuditEvent of the write (same `recorded` instant
as the version's meta.lastUpdated); failing that, the plan's author.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.portal.labels import moment
from app.portal.plans import PlanView, plan_view


@dataclass(frozen=True, slots=True)
class Version:
    number: str
    when: str
    by: str
    changes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlanHistory:
    plan_id: str
    title: str
    versions: tuple[Version, ...]


def _diff(old: PlanView, new: PlanView) -> list[str]:
    changes: list[str] = []
    for label, before, after in (
        ("Titel", old.title, new.title),
        ("Status", old.status, new.status),
        ("Periode", old.period, new.period),
        ("Ansvarlig", old.author, new.author),
        ("Beskrivelse", old.description, new.description),
    ):
        if before != after:
            changes.append(f"{label} ændret fra «{before}» til «{after}»")
    before_acts = {a.description for a in old.activities}
    after_acts = {a.description for a in new.activities}
    changes += [f"Aktivitet fjernet: {d}" for d in sorted(before_acts - after_acts)]
    changes += [f"Aktivitet tilføjet: {d}" for d in sorted(after_acts - before_acts)]
    before_parties = {p.name for p in old.parties}
    after_parties = {p.name for p in new.parties}
    changes += [f"Part fjernet: {n}" for n in sorted(before_parties - after_parties)]
    changes += [f"Part tilføjet: {n}" for n in sorted(after_parties - before_parties)]
    if len(old.goals) != len(new.goals):
        changes.append(f"Antal mål ændret fra {len(old.goals)} til {len(new.goals)}")
    if len(old.diagnoses) != len(new.diagnoses):
        changes.append("Diagnoser ændret")
    return changes or ["Ingen ændringer i det, portalen viser"]


def _writer(events: Iterable[dict[str, Any]], instant: str) -> str | None:
    for event in events:
        if event.get("recorded") != instant or event.get("action") not in ("C", "U", "E"):
            continue
        for agent in event.get("agent", []):
            who = agent.get("who") or {}
            if (who.get("identifier") or {}).get("system") == "urn:oid:1.2.208.176.1.1":
                return str(who.get("display") or "En sundhedsorganisation")
    return None


def plan_history(
    plan_id: str, history: list[dict[str, Any]], events: list[dict[str, Any]]
) -> PlanHistory:
    """`history`: the _history entries (newest first); `events`: AuditEvents of the plan."""
    resources = [e["resource"] for e in history if "resource" in e]
    resources.sort(key=lambda r: int((r.get("meta") or {}).get("versionId", "0")))
    versions: list[Version] = []
    previous: PlanView | None = None
    for resource in resources:
        view = plan_view(resource, {})
        meta = resource.get("meta") or {}
        instant = str(meta.get("lastUpdated", ""))
        by = _writer(events, instant) or view.author or "Ukendt"
        changes = ("Planen blev oprettet",) if previous is None else tuple(_diff(previous, view))
        versions.append(Version(view.version, moment(instant), by, changes))
        previous = view
    title = previous.title if previous else "Plan"
    return PlanHistory(plan_id, title, tuple(reversed(versions)))

""" "Min log" (MinLog): who looked at my data, when and why, from AuditEvents (R4 auditevent).

CPR numbers in AuditEvent.agent are never shown: the citizen sees "Dig", "Forælder
med forældremyndighed" or the organisation's name. Emergency overrides
(værdispring) carry meta.tag consent-override and purposeOfEvent ETREAT.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from app.portal.labels import AUDIT_ACTION, moment

SOR = "urn:oid:1.2.208.176.1.1"
CPR = "urn:oid:1.2.208.176.1.2"
OVERRIDE_CODE = "consent-override"
CITIZEN_PURPOSE = {
    "Dig": "Du så dine egne oplysninger",
    "Dig (som forælder)": "Forældremyndighed",
    "Forælder med forældremyndighed": "Forældremyndighed",
}
# AuditEvent.subtype (http://hl7.org/fhir/restful-interaction) in words.
INTERACTIONS = {
    "read": "Læste",
    "vread": "Læste",
    "search-type": "Søgte i",
    "search-system": "Søgte i",
    "history-instance": "Så tidligere versioner af",
    "history-type": "Så tidligere versioner af",
    "create": "Oprettede",
    "update": "Ændrede",
    "patch": "Ændrede",
    "delete": "Slettede",
    "transaction": "Indsendte",
    "batch": "Indsendte",
    "subscription-notification": "Fik besked om",
    "bulk-export": "Udtrak (bulk-eksport) af",
}
KINDS = {
    "CarePlan": "planer",
    "Goal": "mål",
    "Condition": "diagnoser",
    "Patient": "personoplysninger",
    "Consent": "spærringer",
    "AuditEvent": "log",
    "RelatedPerson": "pårørende",
    "CareTeam": "behandlere",
}


@dataclass(frozen=True, slots=True)
class LogEntry:
    when: str
    who: str
    what: str
    why: str
    refused: bool
    override: bool


def _who(event: dict[str, Any], is_me: Callable[[str], bool]) -> str:
    org = person = None
    parent = False
    for agent in event.get("agent", []):
        who = agent.get("who") or {}
        ident = who.get("identifier") or {}
        if ident.get("system") == SOR:
            org = str(who.get("display") or "En sundhedsorganisation")
        elif ident.get("system") == CPR:
            person = str(ident.get("value"))
            parent = any(
                c.get("code") == "PARAUTH"
                for r in agent.get("role", [])
                for c in r.get("coding", [])
            )
    if person is not None and is_me(person):
        return "Dig (som forælder)" if parent else "Dig"
    if parent:
        return "Forælder med forældremyndighed"
    if person is not None:
        return f"Sundhedsperson, {org}" if org else "En borger"
    return f"{org} (system)" if org else "esp-careplans"


def _what(event: dict[str, Any]) -> str:
    subtypes = [str(s.get("code")) for s in event.get("subtype", [])]
    action = next((INTERACTIONS[s] for s in subtypes if s in INTERACTIONS), None)
    action = action or AUDIT_ACTION.get(str(event.get("action")), "Tilgik")
    types = sorted(
        {
            KINDS.get(str((e.get("what") or {}).get("reference", "")).split("/")[0], "data")
            for e in event.get("entity", [])
            if (e.get("what") or {}).get("reference") and (e.get("role") or {}).get("code") != "1"
        }
    )  # object-role 1 is the patient the event is about: not something that was looked at
    # Only the patient entity: the event was about the person record itself.
    return f"{action} {', '.join(types) or KINDS['Patient']}"


def _why(event: dict[str, Any], override: bool) -> str:
    purposes = event.get("purposeOfEvent") or [{}]
    if override:
        reason = purposes[0].get("text") or "ingen begrundelse angivet"
        return f"Værdispring: {reason}"
    return "Behandling"


def log_entries(events: Iterable[dict[str, Any]], is_me: Callable[[str], bool]) -> list[LogEntry]:
    """AuditEvents as log lines; `is_me(cpr)` says whether an agent is the signed-in user."""
    entries: list[LogEntry] = []
    for event in events:
        tags = (event.get("meta") or {}).get("tag", [])
        override = any(t.get("code") == OVERRIDE_CODE for t in tags) or any(
            c.get("code") == "ETREAT"
            for p in event.get("purposeOfEvent", [])
            for c in p.get("coding", [])
        )
        refused = str(event.get("outcome", "0")) != "0"
        who = _who(event, is_me)
        why = _why(event, override)
        if not override and who in CITIZEN_PURPOSE:  # the API records TREAT for every read
            why = CITIZEN_PURPOSE[who]
        entries.append(
            LogEntry(
                when=moment(event.get("recorded")),
                who=who,
                what=_what(event) + (" (afvist)" if refused else ""),
                why=why,
                refused=refused,
                override=override,
            )
        )
    return entries

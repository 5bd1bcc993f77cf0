"""Danish words for FHIR codes the portal shows (R4 value sets and ours)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

PLAN_TYPE = "http://esp-careplans.dk/fhir/CodeSystem/plan-type"
COPENHAGEN = ZoneInfo("Europe/Copenhagen")

# plan-type code -> (group heading, the plan kind in words)
PLAN_KINDS: dict[str, tuple[str, str]] = {
    "discharge-agreement": ("Udskrivningsaftaler og koordinationsplaner", "Udskrivningsaftale"),
    "coordination-plan": ("Udskrivningsaftaler og koordinationsplaner", "Koordinationsplan"),
    "pathway-plan-copd": ("Forløbsplaner", "Forløbsplan for KOL"),
    "pathway-plan-t2d": ("Forløbsplaner", "Forløbsplan for type 2-diabetes"),
    "rehabilitation-plan": ("Genoptræningsplaner", "Genoptræningsplan"),
}
GROUP_ORDER = (
    "Udskrivningsaftaler og koordinationsplaner",
    "Forløbsplaner",
    "Genoptræningsplaner",
    "Andre planer",
)
PLAN_STATUS = {
    "draft": "Kladde",
    "active": "Aktiv",
    "on-hold": "Sat i bero",
    "revoked": "Annulleret",
    "completed": "Afsluttet",
    "entered-in-error": "Oprettet ved en fejl",
    "unknown": "Ukendt",
}
ACTIVITY_STATUS = {
    "not-started": "Ikke startet",
    "scheduled": "Planlagt",
    "in-progress": "I gang",
    "on-hold": "Sat i bero",
    "completed": "Gennemført",
    "cancelled": "Aflyst",
    "stopped": "Stoppet",
    "unknown": "Ukendt",
    "entered-in-error": "Oprettet ved en fejl",
}
GOAL_STATUS = {
    "proposed": "Foreslået",
    "planned": "Planlagt",
    "accepted": "Aftalt",
    "active": "Aktivt",
    "on-hold": "Sat i bero",
    "completed": "Nået",
    "cancelled": "Opgivet",
    "entered-in-error": "Oprettet ved en fejl",
    "rejected": "Afvist",
}
PARTY_ROLE = {
    "region": "Hospital (region)",
    "municipality": "Kommune",
    "general-practitioner": "Praktiserende læge",
}
AUDIT_ACTION = {"C": "Oprettede", "R": "Læste", "U": "Ændrede", "D": "Slettede", "E": "Søgte i"}
MONTHS = (
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
)


def day(value: object) -> str:
    """'2026-11-21' -> '21. november 2026'; other text unchanged; '' for nothing."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        parsed = date.fromisoformat(value[:10])
    except ValueError:
        return value
    if len(value) == 4:
        return value
    return f"{parsed.day}. {MONTHS[parsed.month - 1]} {parsed.year}"


def moment(value: object) -> str:
    """An instant in Copenhagen time: '23. november 2026 kl. 07.02'."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(COPENHAGEN)
    return f"{day(parsed.date().isoformat())} kl. {parsed:%H.%M}"


def period(value: object) -> str:
    if not isinstance(value, dict):
        return "Ikke angivet"
    start, end = day(value.get("start")), day(value.get("end"))
    if start and end:
        return f"{start} til {end}"
    if start:
        return f"Fra {start}"
    return f"Til {end}" if end else "Ikke angivet"

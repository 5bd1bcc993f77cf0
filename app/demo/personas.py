"""Who to log in as in the demo: one persona per access rule worth trying (docs/demo.md).

`claims` is what to send to `POST /auth/dev-token` (development issuer) to act as the
persona; every set passes `Principal.from_claims`. Persons are MedCom test persons;
organisations are the demo's (app/demo/organisations.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.demo.organisations import (
    GP_SKANDERBORG,
    HORSENS,
    HOSPITAL,
    ODDER,
    PSYKIATRIEN,
    SKANDERBORG,
    Org,
)

Role = Literal[
    "citizen", "custody-parent", "parent-without-custody", "teenager", "professional", "system"
]

KIRSTEN = "2911829996"
LARS, RIKKE, AYA, GITTE = "0505159995", "0505209996", "0505239996", "0505109990"
PIA, EINER = "0505059996", "0201609995"
ANDERS, ALI = "3103979995", "3101229995"
NIELS_VENDELBOE = "3001749995"  # MedCom test person, our clinician
KAJA_HANSEN = "2103009996"  # MedCom test person, our municipal nurse

CITIZEN_SCOPES = "patient/*.rs"
CITIZEN_SELF_SCOPES = "patient/*.rs patient/Consent.cud"


@dataclass(frozen=True, slots=True)
class Persona:
    key: str
    name: str
    role: Role
    description: str  # Danish, for the persona list
    rule: str  # the access rule it shows (app/access/rules.py)
    claims: Mapping[str, Any]
    cpr: str | None = None
    org_sor: str | None = None
    org_name: str | None = None
    acts_for_cpr: str | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)


def _citizen(cpr: str, child: str | None = None, scopes: str = CITIZEN_SCOPES) -> dict[str, Any]:
    return {
        "dk_user_type": "citizen",
        "sub": f"citizen-{cpr}",
        "dk_acting_cpr": cpr,
        "dk_citizen_cpr": child or cpr,
        "dk_relation": "custody" if child else "self",
        "scope": scopes,
    }


def _professional(cpr: str, authorization_id: str, org: Org) -> dict[str, Any]:
    claims = {
        "dk_user_type": "professional",
        "sub": f"professional-{cpr}",
        "dk_org_sor": org.sor,
        "dk_acting_cpr": cpr,
        "dk_authorization_id": authorization_id,
        "scope": "user/*.cruds",
    }
    if org.kommunekode:
        claims["dk_org_kommunekode"] = org.kommunekode
    return claims


def _system(org: Org, scopes: str, client_id: str) -> dict[str, Any]:
    claims = {
        "dk_user_type": "system",
        "sub": client_id,
        "client_id": client_id,
        "dk_org_sor": org.sor,
        "scope": scopes,
    }
    if org.kommunekode:
        claims["dk_org_kommunekode"] = org.kommunekode
    if org.ydernummer:
        claims["dk_org_ydernummer"] = org.ydernummer
    return claims


def _with_org(org: Org) -> dict[str, Any]:
    return {"org_sor": org.sor, "org_name": org.name}


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "kirsten-lars",
        "Kirsten Berggren (for Lars, 11 år)",
        "custody-parent",
        "Mor med forældremyndighed over Lars. Ser Lars' genoptræningsplan, men ikke "
        "koordinationsplanen, som lægen har skjult for forældremyndighedsindehaveren.",
        "custody-sundhedsloven-39a",
        _citizen(KIRSTEN, LARS),
        cpr=KIRSTEN,
        acts_for_cpr=LARS,
    ),
    Persona(
        "kirsten-rikke",
        "Kirsten Berggren (for Rikke, 6 år)",
        "custody-parent",
        "Mor med forældremyndighed over Rikke. Ser Rikkes genoptræningsplan.",
        "custody-sundhedsloven-39a",
        _citizen(KIRSTEN, RIKKE),
        cpr=KIRSTEN,
        acts_for_cpr=RIKKE,
    ),
    Persona(
        "kirsten-aya",
        "Kirsten Berggren (for Aya, 3 år)",
        "custody-parent",
        "Mor med forældremyndighed over Aya, som ikke har nogen planer: tomt resultat.",
        "custody-sundhedsloven-39a",
        _citizen(KIRSTEN, AYA),
        cpr=KIRSTEN,
        acts_for_cpr=AYA,
    ),
    Persona(
        "kirsten-gitte",
        "Kirsten Berggren (for Gitte, 16 år)",
        "custody-parent",
        "Mor med forældremyndighed over Gitte, der er fyldt 15: adgangen afvises.",
        "child-15-or-over-sundhedsloven-39a",
        _citizen(KIRSTEN, GITTE),
        cpr=KIRSTEN,
        acts_for_cpr=GITTE,
    ),
    Persona(
        "kirsten",
        "Kirsten Berggren",
        "citizen",
        "Kirsten selv: ser sin egen forløbsplan for type 2-diabetes.",
        "citizen-self",
        _citizen(KIRSTEN, scopes=CITIZEN_SELF_SCOPES),
        cpr=KIRSTEN,
    ),
    Persona(
        "anders-ali",
        "Anders Jensen (for Ali, 4 år)",
        "parent-without-custody",
        "Far til Ali, men uden registreret forældremyndighed: adgangen afvises.",
        "no-verified-custody",
        _citizen(ANDERS, ALI),
        cpr=ANDERS,
        acts_for_cpr=ALI,
    ),
    Persona(
        "gitte",
        "Gitte Nancy Berggren (16 år)",
        "teenager",
        "Gitte selv: ser sin udskrivningsaftale, som hendes mor ikke længere kan se.",
        "citizen-self",
        _citizen(GITTE, scopes=CITIZEN_SELF_SCOPES),
        cpr=GITTE,
    ),
    Persona(
        "pia",
        "Pia Berggren (21 år)",
        "citizen",
        "Pia selv: ser sin koordinationsplan fra Regionspsykiatrien Horsens.",
        "citizen-self",
        _citizen(PIA, scopes=CITIZEN_SELF_SCOPES),
        cpr=PIA,
    ),
    Persona(
        "einer",
        "Einer Lauridsen",
        "citizen",
        "Einer selv: ser sine planer og sit fravalg af deling med Skanderborg Kommune, og kan "
        "oprette eller tilbagekalde fravalg (Consent).",
        "citizen-writes-own-opt-out",
        _citizen(EINER, scopes=CITIZEN_SELF_SCOPES),
        cpr=EINER,
    ),
    Persona(
        "niels-psykiatrien",
        "Niels Vendelboe, læge, Regionspsykiatrien Horsens",
        "professional",
        "Læge med behandlingsrelation til Lars, Gitte, Pia og Rasmus. Ser også den skjulte plan "
        "og kan skjule en plan for forældremyndighedsindehaveren.",
        "treatment-relation-sundhedsloven-42a",
        _professional(NIELS_VENDELBOE, "0C5VJ", PSYKIATRIEN),
        cpr=NIELS_VENDELBOE,
        **_with_org(PSYKIATRIEN),
    ),
    Persona(
        "kaja-skanderborg",
        "Kaja Hansen, sygeplejerske, Skanderborg Kommune",
        "professional",
        "Part i Einers planer, men Einer har frabedt sig deling med Skanderborg Kommune: ser "
        "intet af hans. Med værdispring (X-Consent-Override) ses planerne, og det logges.",
        "opt-out-negativt-samtykke",
        _professional(KAJA_HANSEN, "4R7QX", SKANDERBORG),
        cpr=KAJA_HANSEN,
        **_with_org(SKANDERBORG),
    ),
    Persona(
        "kaja-skanderborg-override",
        "Kaja Hansen, med værdispring",
        "professional",
        "Som ovenfor, med headeren X-Consent-Override: ser Einers planer trods fravalget.",
        "emergency-override-vaerdispring",
        _professional(KAJA_HANSEN, "4R7QX", SKANDERBORG),
        cpr=KAJA_HANSEN,
        extra_headers={"X-Consent-Override": "Akut indlaeggelse, patienten er bevidstloes"},
        **_with_org(SKANDERBORG),
    ),
    Persona(
        "horsens-kommune-system",
        "Horsens Kommune, omsorgssystem",
        "system",
        "Kommunens system henter genoptræningsplaner til Horsens Kommune (Nancy, Lars, Rikke).",
        "treatment-relation-sundhedsloven-42a",
        _system(HORSENS, "system/*.rs", "horsens-kommune-omsorg"),
        **_with_org(HORSENS),
    ),
    Persona(
        "odder-kommune-system",
        "Odder Kommune, omsorgssystem",
        "system",
        "En kommune uden relation til Berggren-børnene: ser ingen af deres planer, og ingen "
        "genoptræningsplaner til andre kommuner.",
        "treatment-relation-sundhedsloven-42a",
        _system(ODDER, "system/*.rs", "odder-kommune-omsorg"),
        **_with_org(ODDER),
    ),
    Persona(
        "hospital-system",
        "Regionshospitalet Horsens, EPJ-integration",
        "system",
        "Hospitalets EPJ sender udskrivningsaftaler og genoptræningsplaner som én transaktion.",
        "treatment-relation-sundhedsloven-42a",
        _system(HOSPITAL, "system/*.cruds", "rhh-epj"),
        **_with_org(HOSPITAL),
    ),
    Persona(
        "gp-skanderborg-system",
        "Skanderborg Lægecenter, lægesystem",
        "system",
        "Lægepraksissystemet sender og reviderer forløbsplaner for KOL og type 2-diabetes.",
        "treatment-relation-sundhedsloven-42a",
        _system(GP_SKANDERBORG, "system/*.cruds", "skanderborg-laegecenter"),
        **_with_org(GP_SKANDERBORG),
    ),
)


BY_KEY: Mapping[str, Persona] = {p.key: p for p in PERSONAS}


def persona(key: str) -> Persona:
    """The persona with this key (KeyError if none)."""
    return BY_KEY[key]

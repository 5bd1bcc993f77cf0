"""Deterministic synthetic Danish data: organisations, citizens and their plans as FHIR R4
transaction Bundles, shaped like fhir_profiles/examples/ (the one place to adapt when the
profiles change).

Everything derives from a seed: citizen `i` is the same for any N, and bundles stream one
citizen at a time, so a million resources never sit in memory.
CPR rules: cpr.dk "Personnummeret i CPR" (7th digit and century); DK-core identifier systems:
/work/shared/reference/README.md.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MUNICIPALITY_FILE = ROOT / "fhir_profiles/dependencies/CodeSystem-dk-core-municipality-codes.json"

CPR = "urn:oid:1.2.208.176.1.2"
SOR = "urn:oid:1.2.208.176.1.1"
YDERNUMMER = "urn:oid:1.2.208.176.1.4"
MUNICIPALITY_CODES = "http://hl7.dk/fhir/core/CodeSystem/dk-core-municipality-codes"
REGION_CODES = "urn:iso:std:iso:3166:-2"
SKS_D = "urn:oid:1.2.208.176.2.4.12"
ICPC2 = "urn:oid:1.2.208.176.2.31"
URI_IDENT = "urn:ietf:rfc:3986"
ESP = "http://esp-careplans.dk/fhir"
PLAN_TYPE = f"{ESP}/CodeSystem/plan-type"
PARTY_ROLE = f"{ESP}/CodeSystem/party-role"
GOP_TYPE = f"{ESP}/CodeSystem/gop-type"
PATHWAY_ACTIVITY = f"{ESP}/CodeSystem/pathway-activity"
PARTICIPATION = f"{ESP}/CodeSystem/patient-participation"
PARTICIPATION_EXT = f"{ESP}/StructureDefinition/patient-participation"
DISCHARGE_DATE_EXT = f"{ESP}/StructureDefinition/discharge-date"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
LIFECYCLE = {"active": "active", "completed": "completed", "draft": "proposed"}

# The fixed "today" of the data set: dates never depend on the clock.
TODAY = date(2026, 11, 24)
DEFAULT_SEED = 20261124
NOT_A_MUNICIPALITY = {"0411"}  # Christiansø is administered by the state: 98 kommuner remain.

KINDS = (
    "discharge-agreement",
    "coordination-plan",
    "pathway-plan-copd",
    "pathway-plan-t2d",
    "rehabilitation-plan",
)
# Rehabilitation plans (sundhedsloven §140) are the most numerous of the kinds.
KIND_WEIGHTS = (12, 4, 20, 24, 40)
KIND_TITLES = {
    "discharge-agreement": "Udskrivningsaftale",
    "coordination-plan": "Koordinationsplan",
    "pathway-plan-copd": "Forløbsplan for KOL",
    "pathway-plan-t2d": "Forløbsplan for type 2-diabetes",
    "rehabilitation-plan": "Genoptræningsplan",
}
PLAN_PROFILES = {
    "discharge-agreement": "esp-discharge-agreement",
    "coordination-plan": "esp-discharge-agreement",
    "pathway-plan-copd": "esp-pathway-plan",
    "pathway-plan-t2d": "esp-pathway-plan",
    "rehabilitation-plan": "esp-rehabilitation-plan",
}
CARETEAM_PROFILES = {
    "esp-discharge-agreement": "esp-discharge-careteam",
    "esp-pathway-plan": "esp-careteam",
    "esp-rehabilitation-plan": "esp-rehabilitation-careteam",
}
STATUSES = (("active", 60), ("completed", 30), ("draft", 10))

# (SKS-D code, display, ICPC-2 code or None): the plan's main diagnosis per kind.
DIAGNOSES: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "discharge-agreement": (
        ("DF200", "Paranoid skizofreni", None),
        ("DF322", "Depressiv enkeltepisode af svær grad uden psykotiske symptomer", None),
        ("DF312", "Bipolar affektiv sindslidelse, manisk episode med psykotiske symptomer", None),
        ("DF603", "Emotionelt ustabil personlighedsstruktur", None),
    ),
    "pathway-plan-copd": (
        ("DJ449", "Kronisk obstruktiv lungesygdom UNS", "R95"),
        ("DJ441", "Kronisk obstruktiv lungesygdom med akut eksacerbation UNS", "R95"),
    ),
    "pathway-plan-t2d": (
        ("DE119", "Type 2-diabetes uden komplikationer", "T90"),
        ("DE112", "Type 2-diabetes med diabetisk nyrekomplikation", "T90"),
    ),
    "rehabilitation-plan": (
        ("DS720", "Fraktur af lårbenshals", None),
        ("DI639", "Hjerneinfarkt UNS", None),
        ("DM171", "Primær knæartrose, anden", None),
        ("DS821", "Fraktur af proksimale ende af skinneben", None),
        ("DM161", "Primær hofteartrose, anden", None),
    ),
}
DIAGNOSES["coordination-plan"] = DIAGNOSES["discharge-agreement"]
COMORBIDITIES = (
    ("DI109", "Essentiel hypertension", "K86"),
    ("DE669", "Fedme UNS", "T82"),
    ("DF100", "Akut alkoholforgiftning", None),
    ("DM810", "Postmenopausal osteoporose", "L95"),
    ("DI489", "Atrieflimren og atrieflagren UNS", "K78"),
)
GOALS: dict[str, tuple[tuple[str, str], ...]] = {
    "discharge-agreement": (
        ("{name} bor stabilt i egen bolig og møder til de aftalte samtaler.", "Fremmøde"),
        ("{name} tager sin medicin som aftalt.", "Medicinkomplians"),
        ("{name} har en fast dagligdag med beskæftigelse eller uddannelse.", "Dagligdag"),
    ),
    "pathway-plan-copd": (
        ("{name} kan gå 500 meter i eget tempo uden at skulle hvile.", "Gangdistance"),
        ("{name} er røgfri.", "Antal cigaretter pr. dag"),
    ),
    "pathway-plan-t2d": (
        ("{name} har et HbA1c under 53 mmol/mol.", "HbA1c"),
        ("{name} har tabt 5 % af sin vægt.", "Vægt"),
        ("{name} motionerer 30 minutter om dagen.", "Daglig motion"),
    ),
    "rehabilitation-plan": (
        ("{name} kan gå selvstændigt med rollator indendørs.", "Selvstændig gang"),
        ("{name} klarer selv personlig hygiejne og påklædning.", "Egenomsorg"),
        ("{name} kan gå på trapper med gelænder.", "Trappegang"),
    ),
}
GOALS["coordination-plan"] = GOALS["discharge-agreement"]
PATHWAY_ACTIVITIES = {
    "pathway-plan-copd": (
        ("annual-control", "Årskontrol", "Årskontrol med spirometri og opdatering af planen."),
        ("inhalation-technique", "Kontrol af inhalationsteknik", "Gennemgang af inhalation."),
        ("training", "Fysisk træning", "KOL-rehabilitering på sundhedscentret, 2 gange om ugen."),
        ("smoking-cessation", "Rygestop", "Rygestopforløb i kommunen."),
    ),
    "pathway-plan-t2d": (
        ("annual-control", "Årskontrol", "Årskontrol med blodprøver, blodtryk og urin."),
        ("foot-examination", "Fodundersøgelse", "Fodundersøgelse hos fodterapeut."),
        ("eye-screening", "Øjenscreening", "Øjenscreening hos praktiserende øjenlæge."),
        ("patient-education", "Patientuddannelse", "Diabetesskole i kommunen."),
    ),
}
ACTIVITIES = {
    "region": "Ambulant opfølgning i {org}: første samtale senest 7 dage efter udskrivning.",
    "municipality": "{org}: bostøtte, hjemmepleje eller genoptræning efter aftale.",
    "general-practitioner": "{org}: kontrol af medicin, vægt og blodtryk hver 3. måned.",
}
MALE = (
    "Jens",
    "Peter",
    "Lars",
    "Michael",
    "Henrik",
    "Søren",
    "Niels",
    "Anders",
    "Rasmus",
    "Mads",
    "Frederik",
    "Morten",
    "Jesper",
    "Thomas",
    "Bo",
    "Ole",
    "Poul",
    "Kim",
    "Jørgen",
)
FEMALE = (
    "Anne",
    "Kirsten",
    "Hanne",
    "Mette",
    "Anna",
    "Helle",
    "Susanne",
    "Lene",
    "Maria",
    "Marianne",
    "Inge",
    "Pia",
    "Karen",
    "Lone",
    "Bente",
    "Camilla",
    "Ida",
    "Signe",
    "Aya",
)
FAMILY = (
    "Nielsen",
    "Jensen",
    "Hansen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
    "Petersen",
    "Madsen",
    "Kristensen",
    "Olsen",
    "Thomsen",
    "Christiansen",
    "Poulsen",
    "Johansen",
    "Møller",
    "Mortensen",
    "Lauridsen",
    "Berggren",
    "Østergaard",
    "Frandsen",
    "Dahl",
    "Kjær",
    "Holm",
    "Bach",
    "Elmer",
)
HOSPITALS = (
    ("DK-82", "Regionshospitalet Horsens, Ortopædkirurgisk Afdeling"),
    ("DK-82", "Regionshospitalet Horsens, Medicinsk Afdeling"),
    ("DK-82", "Aarhus Universitetshospital, Neurologi"),
    ("DK-82", "Regionshospitalet Gødstrup, Medicinsk Afdeling"),
    ("DK-83", "Odense Universitetshospital, Ortopædkirurgi"),
    ("DK-83", "Sygehus Lillebælt, Vejle, Medicinsk Afdeling"),
    ("DK-84", "Rigshospitalet, Ortopædkirurgisk Klinik"),
    ("DK-84", "Bispebjerg Hospital, Geriatrisk Afdeling"),
    ("DK-85", "Sjællands Universitetshospital, Køge, Medicinsk Afdeling"),
    ("DK-81", "Aalborg Universitetshospital, Ortopædkirurgi"),
)
PSYCHIATRY = (
    ("DK-82", "Regionspsykiatrien Horsens"),
    ("DK-82", "Aarhus Universitetshospital Psykiatrien"),
    ("DK-83", "Psykiatrien i Region Syddanmark, Vejle"),
    ("DK-84", "Psykiatrisk Center København"),
    ("DK-85", "Psykiatrien Øst, Roskilde"),
    ("DK-81", "Psykiatrien i Region Nordjylland, Aalborg"),
)
GP_NAMES = ("Lægehuset {city}", "Lægerne i {city}", "{city} Lægecenter")


# --- identifiers ---------------------------------------------------------------------------

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def verhoeff(digits: str) -> str:
    """The Verhoeff check digit (SOR codes are SNOMED-style SCTIDs with one)."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][int(ch)]]
    return str(_VERHOEFF_INV[c])


def sor_code(serial: int) -> str:
    """A SOR code in the SCTID shape of real ones (`6038121000016004`): item, namespace
    1000016, partition 10, Verhoeff check digit."""
    body = f"{603800 + serial}100001600"
    return body + verhoeff(body)


def century_digit(born: date, rng: random.Random) -> str:
    """The CPR's 7th digit: 0-3 for 1900-1999; 4 or 9 for 1937-2036; 5-8 for 2000-2057."""
    if born.year < 2000:
        return str(rng.choice((0, 1, 2, 3) if born.year < 1937 else (0, 1, 2, 3, 4, 9)))
    return str(rng.choice((4, 9, 5, 6, 7, 8)))


def cpr_birth_date(cpr: str) -> date:
    """The birth date a CPR number encodes (inverse of the century rule)."""
    day, month, yy, seventh = int(cpr[:2]), int(cpr[2:4]), int(cpr[4:6]), int(cpr[6])
    if seventh <= 3:
        century = 1900
    elif seventh in (4, 9):
        century = 2000 if yy <= 36 else 1900
    else:
        century = 2000 if yy <= 57 else 1800
    return date(century + yy, month, day)


# --- organisations ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Org:
    """One organisation; `ref` is what plans point at (`urn:uuid:` or `Organization/<id>`)."""

    key: str
    kind: str  # hospital | psychiatry | municipality | gp
    name: str
    sor: str
    extra: tuple[str, str]  # (system, value): region code, kommunekode or ydernummer
    municipality: str | None = None

    @property
    def urn(self) -> str:
        return f"urn:uuid:{self.key}"

    def resource(self) -> dict[str, Any]:
        profile = {"municipality": "esp-municipality", "gp": "esp-gp-clinic"}.get(
            self.kind, "esp-organization"
        )
        return {
            "resourceType": "Organization",
            "meta": {"profile": [f"{ESP}/StructureDefinition/{profile}"]},
            "identifier": [
                {"use": "official", "system": SOR, "value": self.sor},
                {"system": self.extra[0], "value": self.extra[1]},
            ],
            "active": True,
            "name": self.name,
        }


def municipalities() -> list[tuple[str, str]]:
    """The 98 kommunekoder with their names, from DK-core's code system."""
    concepts = json.loads(MUNICIPALITY_FILE.read_text("utf-8"))["concept"]
    return sorted(
        (c["code"], c["display"]) for c in concepts if c["code"] not in NOT_A_MUNICIPALITY
    )


def _key(seed: int, *parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"esp-bench:{seed}:" + ":".join(map(str, parts))))


def organisations(seed: int = DEFAULT_SEED, gps_per_municipality: int = 3) -> list[Org]:
    """Hospitals, psychiatric units, the 98 municipalities and their GP clinics."""
    rng = random.Random(f"{seed}:organisations")
    orgs: list[Org] = []
    serial = 0
    for kind, rows in (("hospital", HOSPITALS), ("psychiatry", PSYCHIATRY)):
        for region, name in rows:
            serial += 1
            orgs.append(
                Org(_key(seed, "org", serial), kind, name, sor_code(serial), (REGION_CODES, region))
            )
    for code, city in municipalities():
        serial += 1
        orgs.append(
            Org(
                _key(seed, "org", serial),
                "municipality",
                f"{city} Kommune",
                sor_code(serial),
                (MUNICIPALITY_CODES, code),
                code,
            )
        )
        for n in range(gps_per_municipality):
            serial += 1
            name = GP_NAMES[n % len(GP_NAMES)].format(city=city)
            yder = f"{rng.randrange(10_000, 999_999):06d}"
            orgs.append(
                Org(
                    _key(seed, "org", serial),
                    "gp",
                    name,
                    sor_code(serial),
                    (YDERNUMMER, yder),
                    code,
                )
            )
    return orgs


def organisation_bundle(orgs: list[Org]) -> dict[str, Any]:
    """All organisations as one transaction of conditional creates (by SOR code)."""
    return transaction([(o.urn, o.resource(), _if_none_exist(SOR, o.sor)) for o in orgs])


# --- citizens and plans ----------------------------------------------------------------------


@dataclass(slots=True)
class Citizen:
    """One citizen with one plan; the `refs` map each organisation to its reference."""

    index: int
    cpr: str
    kind: str
    status: str
    bundle: dict[str, Any]
    resources: int = field(default=0)


@dataclass(slots=True)
class _Parties:
    author: Org
    team: list[tuple[str, Org]]  # (party-role, org)
    gp: Org


class World:
    """Organisations plus a citizen factory; `refs` maps org key -> reference used in plans
    (`urn:uuid:` inside a bundle that carries the org, `Organization/<id>` once stored)."""

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.seed = seed
        self.orgs = organisations(seed)
        self.refs: dict[str, str] = {o.key: o.urn for o in self.orgs}
        self.municipalities = [o for o in self.orgs if o.kind == "municipality"]
        self.gps: dict[str, list[Org]] = {}
        for o in self.orgs:
            if o.kind == "gp" and o.municipality:
                self.gps.setdefault(o.municipality, []).append(o)
        self.hospitals = [o for o in self.orgs if o.kind == "hospital"]
        self.psychiatry = [o for o in self.orgs if o.kind == "psychiatry"]
        self._cpr_owner: dict[str, int] = {}

    def stored(self, sor_to_id: dict[str, str]) -> None:
        """Point plans at stored organisations (`Organization/<id>`) instead of urn:uuids."""
        for o in self.orgs:
            if o.sor in sor_to_id:
                self.refs[o.key] = f"Organization/{sor_to_id[o.sor]}"

    def _ref(self, org: Org, display: bool = True) -> dict[str, Any]:
        ref: dict[str, Any] = {"reference": self.refs[org.key]}
        if display:
            ref["display"] = org.name
        return ref

    def _cpr(self, rng: random.Random, index: int, born: date, male: bool) -> str:
        """A CPR unique among this world's citizens; odd last digit for men (CPR rule)."""
        while True:
            last = rng.randrange(1 if male else 0, 10, 2)
            cpr = (
                f"{born:%d%m}{born.year % 100:02d}{century_digit(born, rng)}"
                f"{rng.randrange(100):02d}{last}"
            )
            if self._cpr_owner.setdefault(cpr, index) == index:
                return cpr

    def _parties(self, rng: random.Random, kind: str, home: Org) -> _Parties:
        gp = rng.choice(self.gps[home.municipality or ""])
        if kind.startswith("pathway"):
            return _Parties(gp, [("general-practitioner", gp), ("municipality", home)], gp)
        region = rng.choice(
            self.psychiatry
            if kind in ("discharge-agreement", "coordination-plan")
            else self.hospitals
        )
        if kind == "rehabilitation-plan":
            team = [("municipality", home), ("region", region), ("general-practitioner", gp)]
        else:
            team = [("region", region), ("municipality", home), ("general-practitioner", gp)]
        return _Parties(region, team, gp)

    def citizen(
        self,
        index: int,
        *,
        kind: str | None = None,
        extra_conditions: int = 0,
        extra_goals: int = 0,
        with_orgs: bool = False,
        conditional: bool = False,
    ) -> Citizen:
        """Citizen `index`: Patient, Conditions, Goals and one CarePlan as a transaction.
        `with_orgs` adds the plan's organisations as conditional creates (a vendor's push)."""
        rng = random.Random(f"{self.seed}:citizen:{index}")
        kind = kind or rng.choices(KINDS, KIND_WEIGHTS)[0]
        status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
        youngest, oldest = (
            (45, 92)
            if kind.startswith("pathway")
            else ((30, 96) if kind == "rehabilitation-plan" else (18, 75))
        )
        born = TODAY - timedelta(days=rng.randrange(youngest * 365, oldest * 365))
        male = rng.random() < 0.5
        cpr = self._cpr(rng, index, born, male)
        given = [rng.choice(MALE if male else FEMALE)]
        if rng.random() < 0.4:
            given.append(rng.choice(MALE if male else FEMALE))
        family = rng.choice(FAMILY)
        full = " ".join([*given, family])
        home = rng.choice(self.municipalities)
        parties = self._parties(rng, kind, home)
        start = TODAY - timedelta(
            days=rng.randrange(0, 3 * 365) + (400 if status == "completed" else 0)
        )
        if status == "draft":
            start = TODAY + timedelta(days=rng.randrange(1, 30))
        end = start + timedelta(days=rng.choice((60, 90, 180, 365)))

        entries: list[tuple[str, dict[str, Any], str | None]] = []
        pat_urn = f"urn:uuid:{_key(self.seed, 'patient', index)}"
        subject = {"reference": pat_urn, "display": full}
        entries.append(
            (
                pat_urn,
                {
                    "resourceType": "Patient",
                    "meta": {"profile": [f"{ESP}/StructureDefinition/esp-patient"]},
                    "identifier": [{"use": "official", "system": CPR, "value": cpr}],
                    "name": [{"use": "official", "family": family, "given": given}],
                    "gender": "male" if male else "female",
                    "birthDate": born.isoformat(),
                    "generalPractitioner": [self._ref(parties.gp)],
                },
                _if_none_exist(CPR, cpr) if conditional else None,
            )
        )
        if with_orgs:
            seen = {o.key for _, o in parties.team} | {parties.author.key}
            for org in [o for o in self.orgs if o.key in seen]:
                entries.append((org.urn, org.resource(), _if_none_exist(SOR, org.sor)))

        diagnoses = [rng.choice(DIAGNOSES[kind])]
        diagnoses += [rng.choice(COMORBIDITIES) for _ in range(rng.random() < 0.3)]
        recorded_days = [rng.randrange(0, 30)] + [rng.randrange(0, 2000) for _ in diagnoses[1:]]
        goal_count = 1 + (rng.random() < 0.5)
        # Extras (to fill a bundle to a size) draw nothing from `rng`: the citizen stays the same.
        for n in range(extra_conditions):
            diagnoses.append(COMORBIDITIES[(index + n) % len(COMORBIDITIES)])
            recorded_days.append((index * 31 + n * 97) % 2000)
        condition_urns = []
        for n, (code, display, icpc) in enumerate(diagnoses):
            urn = f"urn:uuid:{_key(self.seed, 'condition', index, n)}"
            condition_urns.append((urn, display))
            coding = [{"system": SKS_D, "code": code, "display": display}]
            if icpc:
                coding.insert(0, {"system": ICPC2, "code": icpc})
            recorded = start - timedelta(days=recorded_days[n])
            entries.append(
                (
                    urn,
                    {
                        "resourceType": "Condition",
                        "meta": {"profile": [f"{ESP}/StructureDefinition/esp-condition"]},
                        "identifier": [{"system": URI_IDENT, "value": urn}],
                        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
                        "verificationStatus": {
                            "coding": [{"system": VERIFICATION, "code": "confirmed"}]
                        },
                        "category": [
                            {
                                "coding": [
                                    {"system": CONDITION_CATEGORY, "code": "encounter-diagnosis"}
                                ]
                            }
                        ],
                        "code": {"coding": coding, "text": display},
                        "subject": subject,
                        "recordedDate": recorded.isoformat(),
                    },
                    _if_none_exist(URI_IDENT, urn) if conditional else None,
                )
            )

        goal_urns = []
        templates = GOALS[kind]
        for n in range(goal_count + extra_goals):
            text, measure = templates[(n + index) % len(templates)]
            urn = f"urn:uuid:{_key(self.seed, 'goal', index, n)}"
            goal_urns.append(urn)
            entries.append(
                (
                    urn,
                    {
                        "resourceType": "Goal",
                        "meta": {"profile": [f"{ESP}/StructureDefinition/esp-goal"]},
                        "identifier": [{"system": URI_IDENT, "value": urn}],
                        "lifecycleStatus": LIFECYCLE[status],
                        "description": {"text": text.format(name=given[0])},
                        "subject": subject,
                        "startDate": start.isoformat(),
                        "target": [{"measure": {"text": measure}, "dueDate": end.isoformat()}],
                        "addresses": [{"reference": condition_urns[0][0]}],
                    },
                    _if_none_exist(URI_IDENT, urn) if conditional else None,
                )
            )

        plan_urn = f"urn:uuid:{_key(self.seed, 'careplan', index)}"
        plan = self._plan(
            rng, kind, status, full, subject, parties, start, end, condition_urns, goal_urns
        )
        plan["identifier"] = [{"system": URI_IDENT, "value": plan_urn}]
        entries.append(
            (plan_urn, plan, _if_none_exist(URI_IDENT, plan_urn) if conditional else None)
        )
        return Citizen(index, cpr, kind, status, transaction(entries), len(entries))

    def _plan(
        self,
        rng: random.Random,
        kind: str,
        status: str,
        full: str,
        subject: dict[str, Any],
        parties: _Parties,
        start: date,
        end: date,
        conditions: list[tuple[str, str]],
        goals: list[str],
    ) -> dict[str, Any]:
        profile = PLAN_PROFILES[kind]
        members: list[dict[str, Any]] = [
            {
                "role": [{"coding": [{"system": PARTY_ROLE, "code": role}]}],
                "member": {
                    **self._ref(org),
                    "type": "Organization",
                    "identifier": {"system": SOR, "value": org.sor},
                },
            }
            for role, org in parties.team
        ]
        category = [{"coding": [{"system": PLAN_TYPE, "code": kind, "display": KIND_TITLES[kind]}]}]
        extensions: list[dict[str, Any]] = []
        if kind in ("discharge-agreement", "coordination-plan"):
            participation = (
                "participated"
                if kind == "discharge-agreement"
                else rng.choice(("declined", "unable"))
            )
            extensions.append(
                {
                    "url": PARTICIPATION_EXT,
                    "valueCoding": {"system": PARTICIPATION, "code": participation},
                }
            )
        if not kind.startswith("pathway"):
            extensions.append({"url": DISCHARGE_DATE_EXT, "valueDate": start.isoformat()})
        if kind == "rehabilitation-plan":
            category.append(
                {
                    "coding": [
                        {
                            "system": GOP_TYPE,
                            "code": rng.choice(("basal", "avanceret", "specialiseret")),
                        }
                    ]
                }
            )
        detail_status = {"active": "scheduled", "completed": "completed", "draft": "not-started"}[
            status
        ]
        if kind.startswith("pathway"):
            activity = [
                {
                    "detail": {
                        "code": {
                            "coding": [{"system": PATHWAY_ACTIVITY, "code": code, "display": disp}]
                        },
                        "status": detail_status,
                        "performer": [self._ref(parties.gp)],
                        "description": text,
                    }
                }
                for code, disp, text in PATHWAY_ACTIVITIES[kind][: rng.randrange(2, 5)]
            ]
        else:
            activity = [
                {
                    "detail": {
                        "status": detail_status,
                        "performer": [self._ref(org)],
                        "description": ACTIVITIES[role].format(org=org.name),
                    }
                }
                for role, org in parties.team
            ]
        plan: dict[str, Any] = {
            "resourceType": "CarePlan",
            "meta": {"profile": [f"{ESP}/StructureDefinition/{profile}"]},
            "contained": [
                {
                    "resourceType": "CareTeam",
                    "id": "parter",
                    "meta": {
                        "profile": [f"{ESP}/StructureDefinition/{CARETEAM_PROFILES[profile]}"]
                    },
                    "status": "active",
                    "name": "Parter i planen",
                    "participant": members,
                }
            ],
            "extension": extensions,
            "status": status,
            "intent": "plan",
            "category": category,
            "title": f"{KIND_TITLES[kind]} for {full}",
            "description": f"{KIND_TITLES[kind]} for {full}, udarbejdet af {parties.author.name}.",
            "subject": subject,
            "period": {"start": start.isoformat(), "end": end.isoformat()},
            "created": (start - timedelta(days=rng.randrange(0, 6))).isoformat(),
            "author": self._ref(parties.author),
            "careTeam": [{"reference": "#parter"}],
            "addresses": [{"reference": urn, "display": display} for urn, display in conditions],
            "goal": [{"reference": urn} for urn in goals],
            "activity": activity,
        }
        if not extensions:
            del plan["extension"]
        return plan

    def careplan(
        self, index: int, kind: str, patient_id: str, condition_id: str, goal_id: str
    ) -> dict[str, Any]:
        """A standalone CarePlan (for `POST /CarePlan`) of `kind` for a stored patient, its
        stored main Condition (of that kind, so the profile invariants hold) and Goal."""
        plan = dict(self.citizen(index, kind=kind).bundle["entry"][-1]["resource"])
        plan["subject"] = {"reference": f"Patient/{patient_id}"}
        plan["addresses"] = [{"reference": f"Condition/{condition_id}"}]
        plan["goal"] = [{"reference": f"Goal/{goal_id}"}]
        plan.pop("identifier", None)
        return plan

    def citizens(self, resources: int, start: int = 0) -> Iterator[Citizen]:
        """Citizens from `start` on until at least `resources` resources were yielded."""
        total, index = 0, start
        while total < resources:
            citizen = self.citizen(index)
            total += citizen.resources
            index += 1
            yield citizen

    def discharge_bundle(self, index: int, size: int = 50) -> Citizen:
        """A full discharge agreement of exactly `size` entries: patient, its organisations
        (conditional creates), conditions, goals and the plan."""
        base = self.citizen(index, kind="discharge-agreement", with_orgs=True, conditional=True)
        missing = max(0, size - base.resources)
        return self.citizen(
            index,
            kind="discharge-agreement",
            with_orgs=True,
            conditional=True,
            extra_conditions=missing // 2,
            extra_goals=missing - missing // 2,
        )


def _if_none_exist(system: str, value: str) -> str:
    return f"identifier={system}|{value}"


def transaction(entries: list[tuple[str, dict[str, Any], str | None]]) -> dict[str, Any]:
    """A transaction Bundle of POSTs (conditional when `if_none_exist` is given)."""
    out = []
    for full_url, resource, if_none_exist in entries:
        request: dict[str, Any] = {"method": "POST", "url": resource["resourceType"]}
        if if_none_exist:
            request["ifNoneExist"] = if_none_exist
        out.append({"fullUrl": full_url, "resource": resource, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": out}


def ndjson_lines(world: World, start: int, resources: int) -> Iterator[bytes]:
    """About `resources` resources of citizens from `start` on, one JSON per line with its
    own id and references between them as `Type/id` (the bulk-data form `esp-careplans
    load FILE.ndjson` reads; the organisations must be stored, see `World.stored`)."""
    for citizen in world.citizens(resources, start):
        entries = citizen.bundle["entry"]
        ids = {e["fullUrl"]: e["fullUrl"].rsplit(":", 1)[1] for e in entries}
        local = {
            e["fullUrl"]: f"{e['resource']['resourceType']}/{ids[e['fullUrl']]}" for e in entries
        }
        for entry in entries:
            text = json.dumps({**entry["resource"], "id": ids[entry["fullUrl"]]})
            for urn, reference in local.items():
                text = text.replace(f'"reference": "{urn}"', f'"reference": "{reference}"')
            yield text.encode() + b"\n"

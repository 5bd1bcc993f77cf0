"""The demo's own plans (besides the five in fhir_profiles/examples), in Danish.

Who is party to what decides who sees whom (treatment relation, sundhedsloven §42a):
Horsens Kommune takes part in the Berggren children's plans, Hedensted Kommune in Ali
Jensen's, Skanderborg Kommune in Einer Lauridsen's (who has opted out of sharing with
it), and Odder Kommune in none of these.
"""

from __future__ import annotations

from app.demo.organisations import (
    GP_HORSENS,
    GP_SKANDERBORG,
    HEDENSTED,
    HORSENS,
    HOSPITAL,
    PSYKIATRIEN,
    SKANDERBORG,
)
from app.demo.plan_bundle import (
    ICPC2_SYSTEM,
    SKS_SYSTEM,
    Activity,
    Diagnosis,
    GoalSpec,
    PlanSpec,
)
from app.fhir.profiles.canonical import PlanType

EINER_KOL = PlanSpec(
    key="einer-kol",
    patient="Einer",
    kind=PlanType.PATHWAY_PLAN_COPD,
    title="Forløbsplan for KOL",
    description=(
        "Forløbsplan for Einer Test Lauridsen med KOL efter kvalitetspakken for KOL i almen "
        "praksis, lagt sammen med Einer ved årskontrollen i Skanderborg Lægecenter."
    ),
    author=GP_SKANDERBORG,
    parties=(GP_SKANDERBORG, SKANDERBORG),
    start="2026-10-05",
    end="2027-10-05",
    diagnoses=(
        Diagnosis(
            (
                (ICPC2_SYSTEM, "R95", "Kronisk obstruktiv lungesygdom"),
                (SKS_SYSTEM, "DJ449", "Kronisk obstruktiv lungesygdom UNS"),
            ),
            "KOL, moderat (GOLD B)",
            "2021-02-11",
        ),
    ),
    goals=(
        GoalSpec(
            "Einer kan gå tur med hunden en halv time hver dag uden at blive forpustet.",
            "Daglig gåtur",
            "30 minutter dagligt",
            "2027-04-01",
        ),
    ),
    activities=(
        Activity(
            "Årskontrol med spirometri, CAT-score og opdatering af forløbsplanen.",
            GP_SKANDERBORG,
            ("annual-control", "Årskontrol"),
        ),
        Activity(
            "KOL-rehabilitering i Skanderborg Kommunes Sundhedscenter: holdtræning to gange om "
            "ugen i 12 uger.",
            SKANDERBORG,
            ("training", "Træning"),
        ),
        Activity(
            "Patientuddannelse om KOL: medicin, vejrtrækningsteknik og hvad man gør ved "
            "forværring.",
            SKANDERBORG,
            ("patient-education", "Patientuddannelse"),
        ),
    ),
)

EINER_REHAB = PlanSpec(
    key="einer-rehab",
    patient="Einer",
    kind=PlanType.REHABILITATION_PLAN,
    title="Genoptræningsplan efter ny hofte",
    description=(
        "Genoptræningsplan efter sundhedslovens §140 til almen genoptræning i Skanderborg "
        "Kommune efter indsættelse af total hoftealloplastik i venstre hofte."
    ),
    author=HOSPITAL,
    parties=(HOSPITAL, SKANDERBORG),
    start="2026-11-16",
    end="2027-01-31",
    discharge_date="2026-11-16",
    gop_type="almen",
    diagnoses=(
        Diagnosis(
            ((SKS_SYSTEM, "DM161", "Primær coxartrose, ensidig"),),
            "Slidgigt i venstre hofte, opereret med total hoftealloplastik",
            "2026-11-12",
        ),
    ),
    goals=(
        GoalSpec(
            "Einer kan gå uden stok og selv klare indkøb i nærbutikken.",
            "Gang uden hjælpemiddel",
            "Går uden stok",
            "2027-01-31",
        ),
    ),
    activities=(
        Activity(
            "Gangtræning og styrketræning af hofte- og lårmuskulatur to gange om ugen i otte uger.",
            SKANDERBORG,
        ),
        Activity("Einer laver sit hjemmeøvelsesprogram hver dag.", None, status="in-progress"),
    ),
)

KIRSTEN_T2D = PlanSpec(
    key="kirsten-t2d",
    patient="KirstenBerggren",
    kind=PlanType.PATHWAY_PLAN_T2D,
    title="Forløbsplan for type 2-diabetes",
    description=(
        "Forløbsplan for Kirsten Test Berggren med type 2-diabetes efter kvalitetspakken for "
        "type 2-diabetes, lagt sammen med Kirsten i Lægehuset Søndergade."
    ),
    author=GP_HORSENS,
    parties=(GP_HORSENS, HORSENS),
    start="2026-09-14",
    end="2027-09-14",
    diagnoses=(
        Diagnosis(
            (
                (ICPC2_SYSTEM, "T90", "Diabetes type 2"),
                (SKS_SYSTEM, "DE119", "Type 2-diabetes uden komplikationer"),
            ),
            "Type 2-diabetes",
            "2025-03-03",
        ),
    ),
    goals=(
        GoalSpec(
            "Kirstens langtidsblodsukker (HbA1c) er under 53 mmol/mol.",
            "HbA1c",
            "Under 53 mmol/mol",
            "2027-03-01",
        ),
        GoalSpec(
            "Kirsten cykler til arbejde mindst tre dage om ugen.",
            "Fysisk aktivitet",
            "Tre dage om ugen",
            "2027-05-01",
        ),
    ),
    activities=(
        Activity(
            "Kvartalskontrol med blodprøver, blodtryk og vægt.",
            GP_HORSENS,
            ("control-visit", "Kontrolbesøg"),
        ),
        Activity(
            "Fodundersøgelse ved årskontrollen.",
            GP_HORSENS,
            ("foot-examination", "Fodundersøgelse"),
        ),
        Activity(
            "Diabetesskole i Horsens Kommunes Sundhedscenter: seks mødegange om kost, motion "
            "og medicin.",
            HORSENS,
            ("patient-education", "Patientuddannelse"),
        ),
    ),
)

LARS_REHAB = PlanSpec(
    key="lars-rehab",
    patient="LarsBerggren",
    kind=PlanType.REHABILITATION_PLAN,
    title="Genoptræningsplan efter brud på underarmen",
    description=(
        "Genoptræningsplan efter sundhedslovens §140 til almen genoptræning hos Horsens "
        "Kommunes børneterapeuter efter brud på venstre underarm (fald fra trampolin)."
    ),
    author=HOSPITAL,
    parties=(HOSPITAL, HORSENS),
    start="2026-10-26",
    end="2026-12-31",
    discharge_date="2026-10-26",
    gop_type="basal",
    diagnoses=(
        Diagnosis(
            ((SKS_SYSTEM, "DS525", "Fraktur af distale ende af radius"),),
            "Brud på venstre håndled, behandlet med gips i fem uger",
            "2026-09-20",
        ),
    ),
    goals=(
        GoalSpec(
            "Lars kan igen holde på en bold med begge hænder og skrive i hånden i en hel "
            "skoletime.",
            "Bevægelighed og kraft i håndleddet",
            "Fuld bevægelighed",
            "2026-12-31",
        ),
    ),
    activities=(
        Activity(
            "Træning af bevægelighed og styrke i håndleddet hos børnefysioterapeut en gang om "
            "ugen i seks uger.",
            HORSENS,
        ),
    ),
)

LARS_HIDDEN = PlanSpec(
    key="lars-koordinationsplan",
    patient="LarsBerggren",
    kind=PlanType.COORDINATION_PLAN,
    title="Koordinationsplan, børne- og ungdomspsykiatri",
    description=(
        "Koordinationsplan efter psykiatrilovens §13b for Lars efter indlæggelse i børne- og "
        "ungdomspsykiatrien. Planen er skjult for forældremyndighedsindehaverne efter "
        "sundhedslovens §37, stk. 2, efter en lægefaglig vurdering af hensynet til barnet."
    ),
    author=PSYKIATRIEN,
    parties=(PSYKIATRIEN, HORSENS, GP_HORSENS),
    start="2026-11-09",
    end="2027-05-09",
    participation="unable",
    discharge_date="2026-11-09",
    hidden_from_custody_holder=True,
    diagnoses=(
        Diagnosis(
            ((SKS_SYSTEM, "DF432", "Tilpasningsreaktion"),),
            "Tilpasningsreaktion",
            "2026-10-28",
        ),
    ),
    goals=(
        GoalSpec(
            "Lars går i skole hver dag og har en fast voksen, han kan tale med.",
            "Skolefremmøde",
            "Fuldt fremmøde",
            "2027-02-01",
        ),
    ),
    activities=(
        Activity("Ambulante samtaler i børne- og ungdomspsykiatrien hver anden uge.", PSYKIATRIEN),
        Activity(
            "Støtte- og kontaktperson efter serviceloven og samarbejde med Lars' skole.", HORSENS
        ),
        Activity("Opfølgning hos egen læge efter tre måneder.", GP_HORSENS),
    ),
)

RIKKE_REHAB = PlanSpec(
    key="rikke-rehab",
    patient="RikkeBerggren",
    kind=PlanType.REHABILITATION_PLAN,
    title="Genoptræningsplan efter brud på skinnebenet",
    description=(
        "Genoptræningsplan efter sundhedslovens §140 til almen genoptræning hos Horsens "
        "Kommunes børneterapeuter efter brud på højre skinneben."
    ),
    author=HOSPITAL,
    parties=(HOSPITAL, HORSENS),
    start="2026-11-02",
    end="2027-01-15",
    discharge_date="2026-11-02",
    gop_type="almen",
    diagnoses=(
        Diagnosis(
            ((SKS_SYSTEM, "DS822", "Fraktur af skaft af skinneben"),),
            "Brud på højre skinneben",
            "2026-10-01",
        ),
    ),
    goals=(
        GoalSpec(
            "Rikke kan løbe og lege med de andre børn i børnehaven.",
            "Gang og løb",
            "Løber uden at halte",
            "2027-01-15",
        ),
    ),
    activities=(
        Activity("Legebaseret gang- og balancetræning en gang om ugen i otte uger.", HORSENS),
    ),
)

GITTE_DISCHARGE = PlanSpec(
    key="gitte-udskrivningsaftale",
    patient="GitteNancy",
    kind=PlanType.DISCHARGE_AGREEMENT,
    title="Udskrivningsaftale for Gitte Nancy Test Berggren",
    description=(
        "Udskrivningsaftale efter psykiatrilovens §13a, indgået mellem Gitte, "
        "Regionspsykiatrien Horsens, Horsens Kommune og Lægehuset Søndergade ved udskrivning."
    ),
    author=PSYKIATRIEN,
    parties=(PSYKIATRIEN, HORSENS, GP_HORSENS),
    start="2026-11-18",
    end="2027-05-18",
    participation="participated",
    discharge_date="2026-11-18",
    diagnoses=(Diagnosis(((SKS_SYSTEM, "DF500", "Anoreksi"),), "Anoreksi", "2026-08-30"),),
    goals=(
        GoalSpec(
            "Gitte holder en stabil vægt og spiser tre hovedmåltider om dagen.",
            "Vægt",
            "Stabil vægt over 50 kg",
            "2027-05-18",
        ),
    ),
    activities=(
        Activity("Ambulant behandling i spiseforstyrrelsesteamet en gang om ugen.", PSYKIATRIEN),
        Activity("Ugentlig vejning og blodprøver hver anden uge.", GP_HORSENS),
        Activity("Ungerådgiver fra Horsens Kommune støtter Gitte i skolen.", HORSENS),
        Activity("Gitte følger sin madplan.", None, status="in-progress"),
    ),
)

ALI_REHAB = PlanSpec(
    key="ali-rehab",
    patient="AliJensen",
    kind=PlanType.REHABILITATION_PLAN,
    title="Genoptræningsplan efter brud på albuen",
    description=(
        "Genoptræningsplan efter sundhedslovens §140 til almen genoptræning i Hedensted "
        "Kommune efter operation for brud på højre albue."
    ),
    author=HOSPITAL,
    parties=(HOSPITAL, HEDENSTED),
    start="2026-11-11",
    end="2027-01-20",
    discharge_date="2026-11-11",
    gop_type="almen",
    diagnoses=(
        Diagnosis(
            ((SKS_SYSTEM, "DS424", "Fraktur af distale ende af overarmsben"),),
            "Brud lige over højre albue, opereret",
            "2026-11-08",
        ),
    ),
    goals=(
        GoalSpec(
            "Ali kan bøje og strække albuen og selv tage trøjen på.",
            "Bevægelighed i albuen",
            "Fuld bevægelighed",
            "2027-01-20",
        ),
    ),
    activities=(
        Activity("Børnefysioterapi i Hedensted Kommune en gang om ugen i seks uger.", HEDENSTED),
    ),
)

PLANS: tuple[PlanSpec, ...] = (
    EINER_KOL,
    EINER_REHAB,
    KIRSTEN_T2D,
    LARS_REHAB,
    LARS_HIDDEN,
    RIKKE_REHAB,
    GITTE_DISCHARGE,
    ALI_REHAB,
)

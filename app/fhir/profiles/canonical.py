"""Canonical URLs, code systems and codes of this project's FHIR definitions (fhir_profiles/)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

CANONICAL_BASE = "http://esp-careplans.dk/fhir"


def structure_definition_url(id_: str) -> str:
    """The canonical URL of our StructureDefinition `id_`."""
    return f"{CANONICAL_BASE}/StructureDefinition/{id_}"


def code_system_url(id_: str) -> str:
    """The canonical URL of our CodeSystem `id_`."""
    return f"{CANONICAL_BASE}/CodeSystem/{id_}"


def value_set_url(id_: str) -> str:
    """The canonical URL of our ValueSet `id_`."""
    return f"{CANONICAL_BASE}/ValueSet/{id_}"


def is_ours(url: str) -> bool:
    """Whether a canonical URL is in our canonical base (and so must be known to the catalog)."""
    return url.startswith(CANONICAL_BASE + "/")


# Code systems (fhir_profiles/CodeSystem-*.json).
PLAN_TYPE_SYSTEM = code_system_url("plan-type")
SECURITY_LABEL_SYSTEM = code_system_url("security-label")
GOP_TYPE_SYSTEM = code_system_url("gop-type")
PATHWAY_ACTIVITY_SYSTEM = code_system_url("pathway-activity")
PARTY_ROLE_SYSTEM = code_system_url("party-role")
PATIENT_PARTICIPATION_SYSTEM = code_system_url("patient-participation")

# meta.security code: not to be shown to a holder of parental custody (forældremyndighed).
HIDDEN_FROM_CUSTODY_HOLDER = "hidden-from-custody-holder"


class PlanType(StrEnum):
    """Codes of the plan-type CodeSystem: which kind of shared plan a CarePlan is."""

    DISCHARGE_AGREEMENT = "discharge-agreement"  # udskrivningsaftale, psykiatriloven §13a
    COORDINATION_PLAN = "coordination-plan"  # koordinationsplan, psykiatriloven §13b
    PATHWAY_PLAN_COPD = "pathway-plan-copd"  # forløbsplan for KOL
    PATHWAY_PLAN_T2D = "pathway-plan-t2d"  # forløbsplan for type 2-diabetes
    REHABILITATION_PLAN = "rehabilitation-plan"  # genoptræningsplan, sundhedsloven §140


# Profiles (fhir_profiles/StructureDefinition-*.json).
ESP_PATIENT = structure_definition_url("esp-patient")
ESP_ORGANIZATION = structure_definition_url("esp-organization")
ESP_MUNICIPALITY = structure_definition_url("esp-municipality")
ESP_GP_CLINIC = structure_definition_url("esp-gp-clinic")
ESP_CONDITION = structure_definition_url("esp-condition")
ESP_GOAL = structure_definition_url("esp-goal")
ESP_CARETEAM = structure_definition_url("esp-careteam")
ESP_DISCHARGE_AGREEMENT = structure_definition_url("esp-discharge-agreement")
ESP_PATHWAY_PLAN = structure_definition_url("esp-pathway-plan")
ESP_REHABILITATION_PLAN = structure_definition_url("esp-rehabilitation-plan")
PATIENT_PARTICIPATION_EXTENSION = structure_definition_url("patient-participation")
DISCHARGE_DATE_EXTENSION = structure_definition_url("discharge-date")

# The profile a CarePlan with a plan-type category must conform to, whatever its meta.profile says.
PLAN_PROFILES: Mapping[str, str] = MappingProxyType(
    {
        PlanType.DISCHARGE_AGREEMENT: ESP_DISCHARGE_AGREEMENT,
        PlanType.COORDINATION_PLAN: ESP_DISCHARGE_AGREEMENT,
        PlanType.PATHWAY_PLAN_COPD: ESP_PATHWAY_PLAN,
        PlanType.PATHWAY_PLAN_T2D: ESP_PATHWAY_PLAN,
        PlanType.REHABILITATION_PLAN: ESP_REHABILITATION_PLAN,
    }
)

# Danish identifier and code systems (DK-core 3.x).
CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"
YDERNUMMER_SYSTEM = "urn:oid:1.2.208.176.1.4"
MUNICIPALITY_CODE_SYSTEM = "http://hl7.dk/fhir/core/CodeSystem/dk-core-municipality-codes"
REGION_CODE_SYSTEM = "urn:iso:std:iso:3166:-2"
SKS_D_SYSTEM = "urn:oid:1.2.208.176.2.4.12"
ICPC2_SYSTEM = "urn:oid:1.2.208.176.2.31"

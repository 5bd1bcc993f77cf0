"""The organisations of the Horsens health cluster (sundhedsklynge) in the demo.

SOR codes, ydernumre and general practice names are fictitious (format-valid) and the
same as in fhir_profiles/examples, so the examples and the demo agree; kommunekoder
are the real ones (DK-core dk-core-municipality-codes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from app.demo.ids import demo_uuid
from app.fhir.profiles.canonical import (
    ESP_GP_CLINIC,
    ESP_MUNICIPALITY,
    ESP_ORGANIZATION,
    SOR_SYSTEM,
)
from app.settings import DEMO_CONTACT_FEED_SOR, DEMO_CPR_REGISTRY_SOR

KOMMUNEKODE_SYSTEM = "http://hl7.dk/fhir/core/CodeSystem/dk-core-municipality-codes"
YDERNUMMER_SYSTEM = "urn:oid:1.2.208.176.1.4"
REGION_SYSTEM = "urn:iso:std:iso:3166:-2"
REGION_MIDT = "DK-82"

OrgKind = Literal["region", "municipality", "general-practitioner", "registry"]


@dataclass(frozen=True, slots=True)
class Org:
    """One organisation: the party-role it takes in plans and its identifiers."""

    key: str
    name: str
    kind: OrgKind
    sor: str
    kommunekode: str | None = None
    ydernummer: str | None = None
    # The fullUrl the examples use for this organisation (shared, so bundles agree).
    example_uuid: str | None = None

    @property
    def full_url(self) -> str:
        return f"urn:uuid:{self.example_uuid or demo_uuid('Organization', self.key)}"

    def resource(self) -> dict[str, Any]:
        """The Organization (esp-organization / esp-municipality / esp-gp-clinic)."""
        identifiers: list[dict[str, str]] = [
            {"use": "official", "system": SOR_SYSTEM, "value": self.sor}
        ]
        profile = ESP_ORGANIZATION
        if self.kommunekode:
            identifiers.append({"system": KOMMUNEKODE_SYSTEM, "value": self.kommunekode})
            profile = ESP_MUNICIPALITY
        elif self.ydernummer:
            identifiers.append({"system": YDERNUMMER_SYSTEM, "value": self.ydernummer})
            profile = ESP_GP_CLINIC
        elif self.kind == "region":
            identifiers.append({"system": REGION_SYSTEM, "value": REGION_MIDT})
        return {
            "resourceType": "Organization",
            "meta": {"profile": [profile]},
            "identifier": identifiers,
            "active": True,
            "name": self.name,
        }

    def entry(self) -> dict[str, Any]:
        """A conditional create by SOR code (docs/profiles.md §8)."""
        return {
            "fullUrl": self.full_url,
            "resource": self.resource(),
            "request": {
                "method": "POST",
                "url": "Organization",
                "ifNoneExist": f"identifier={SOR_SYSTEM}|{self.sor}",
            },
        }

    def reference(self) -> dict[str, Any]:
        return {"reference": self.full_url, "display": self.name}

    def party(self) -> dict[str, Any]:
        """A participant of a plan's contained CareTeam (docs/profiles.md §3)."""
        role_display = {
            "region": "Region",
            "municipality": "Kommune",
            "general-practitioner": "Praktiserende læge",
            "registry": "Register",
        }[self.kind]
        return {
            "role": [
                {
                    "coding": [
                        {
                            "system": "http://esp-careplans.dk/fhir/CodeSystem/party-role",
                            "code": self.kind,
                            "display": role_display,
                        }
                    ]
                }
            ],
            "member": {
                "reference": self.full_url,
                "type": "Organization",
                "identifier": {"system": SOR_SYSTEM, "value": self.sor},
                "display": self.name,
            },
        }


PSYKIATRIEN = Org(
    "regionspsykiatrien-horsens",
    "Regionspsykiatrien Horsens",
    "region",
    "6038121000016004",
    example_uuid="bf14c667-55c0-5008-9637-09a0d0577b70",
)
HOSPITAL = Org(
    "regionshospitalet-horsens-ortopaedkirurgi",
    "Regionshospitalet Horsens, Ortopædkirurgisk Afdeling",
    "region",
    "6038201000016009",
    example_uuid="ba4cbf20-79df-5006-9180-5e2dce21bfd7",
)
HORSENS = Org(
    "horsens-kommune",
    "Horsens Kommune",
    "municipality",
    "6038421000016000",
    kommunekode="0615",
    example_uuid="f9568528-abf8-569b-862c-ceb945e1600d",
)
HEDENSTED = Org(
    "hedensted-kommune",
    "Hedensted Kommune",
    "municipality",
    "6038311000016006",
    kommunekode="0766",
    example_uuid="b24c93f1-d06b-56bf-9239-66f7ff8f5f6e",
)
SKANDERBORG = Org(
    "skanderborg-kommune",
    "Skanderborg Kommune",
    "municipality",
    "6038531000016007",
    kommunekode="0746",
    example_uuid="3e9d189c-bdc9-55e1-ae23-949412b6e1a8",
)
ODDER = Org(
    "odder-kommune",
    "Odder Kommune",
    "municipality",
    "6038641000016001",
    kommunekode="0727",
    example_uuid="42ec17b1-acae-562e-99be-f256a83c2cf1",
)
GP_HORSENS = Org(
    "laegehuset-soendergade",
    "Lægehuset Søndergade, Horsens",
    "general-practitioner",
    "6038751000016008",
    ydernummer="045123",
    example_uuid="19995a48-df39-5525-961b-5c97e92121ad",
)
GP_HEDENSTED = Org(
    "laegerne-i-hedensted",
    "Lægerne i Hedensted",
    "general-practitioner",
    "6038861000016002",
    ydernummer="045287",
    example_uuid="5c63de4f-c031-5738-b699-9ef83cf5ee90",
)
GP_SKANDERBORG = Org(
    "skanderborg-laegecenter",
    "Skanderborg Lægecenter",
    "general-practitioner",
    "6038971000016005",
    ydernummer="045391",
    example_uuid="47b9606e-6c58-54d4-98d2-3d4202892caa",
)
GP_ODDER = Org(
    "odder-laegehus",
    "Odder Lægehus",
    "general-practitioner",
    "6039081000016003",
    ydernummer="045402",
    example_uuid="1a306be7-5cfc-50de-aeca-5e66d5af0502",
)

# The registry feeds: the development settings' authorities (app/settings.py). The CPR
# registry feed records the test persons, their custody (PARAUTH) and the GP each is
# listed with; the regions' contact feed records hospital contacts (EpisodeOfCare).
CPR_REGISTRY = Org(
    "cpr-registret",
    "CPR-registret (demo-feed)",
    "registry",
    DEMO_CPR_REGISTRY_SOR,
)
CONTACT_FEED = Org(
    "regionernes-kontaktregistrering",
    "Region Midtjylland, kontaktregistrering (demo-feed)",
    "registry",
    DEMO_CONTACT_FEED_SOR,
)

ORGANISATIONS: tuple[Org, ...] = (
    PSYKIATRIEN,
    HOSPITAL,
    HORSENS,
    HEDENSTED,
    SKANDERBORG,
    ODDER,
    GP_HORSENS,
    GP_HEDENSTED,
    GP_SKANDERBORG,
    GP_ODDER,
    CPR_REGISTRY,
    CONTACT_FEED,
)


def organisations_bundle() -> dict[str, Any]:
    """Every organisation of the cluster, also those no plan names yet."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [org.entry() for org in ORGANISATIONS],
    }

"""One request's unit of work as the interaction handlers see it: repo, caller, policy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.access.age import birth_date_from_cpr, is_under, today_in_copenhagen
from app.access.custody import is_custody_record
from app.access.decision import AccessDenied
from app.access.granular import within_granular_scope
from app.access.policy import AccessPolicy, WriteFacts
from app.access.principal import Principal
from app.access.rules import Rule
from app.fhir.search.extract import extract_index
from app.interactions.context import RequestContext
from app.storage.records import StoredResource
from app.storage.repository import Repository

ADULT_ENOUGH_FOR_OPT_OUT = 15  # a citizen manages their own opt-out from 15 (sundhedsloven §17)


def patients_of(content: dict[str, Any] | None) -> set[str]:
    """The patient compartment of a resource version (R4 CompartmentDefinition patient)."""
    return set(extract_index(content).compartment_patients) if content else set()


@dataclass
class Session:
    """Handed to every interaction handler; owns nothing, the unit of work owns the transaction."""

    repo: Repository
    ctx: RequestContext
    # Resources this request touched, for the AuditEvents: (pk, reference).
    touched: list[tuple[int, str]] = field(default_factory=list)
    # The rule that granted the access, and the query of a search, for the AuditEvents.
    rule: str | None = None
    query: str | None = None
    # Set by an aggregate request: audited as one event without a patient, for this
    # purpose of use (v3 ActReason).
    aggregate_purpose: str | None = None

    @property
    def policy(self) -> AccessPolicy:
        return self.repo.policy

    @property
    def principal(self) -> Principal:
        return self.repo.policy.principal

    def touch(self, items: Iterable[tuple[int, str]]) -> None:
        self.touched.extend(items)

    def _adult_enough(self) -> bool:
        principal = self.principal
        if principal.user_type != "citizen" or not principal.citizen_cpr:
            return True
        birth = birth_date_from_cpr(principal.citizen_cpr)
        return not is_under(birth, ADULT_ENOUGH_FOR_OPT_OUT, today_in_copenhagen())

    def require_scope(self, resource_type: str, interaction: str) -> None:
        """403 before anything is looked up when no scope grants the interaction at all."""
        principal = self.principal
        if not principal.is_internal and not principal.scopes.allows(resource_type, interaction):
            raise AccessDenied(Rule.SCOPE, f"No scope grants {interaction} on {resource_type}")

    def check_write(
        self,
        resource_type: str,
        interaction: str,
        before: StoredResource | None,
        after: dict[str, Any] | None,
    ) -> Rule:
        """Refuse a write the caller may not make, before anything is written.

        `before`: the current version as the caller sees it (None when creating).
        """
        facts = WriteFacts(
            patients_before=patients_of(before.content if before else None),
            patients_after=patients_of(after),
            author_sor=before.author_sor if before else None,
            custody_record=is_custody_record(before.content if before else None)
            or is_custody_record(after),
            citizen_is_adult_enough=self._adult_enough(),
        )
        rule = self.policy.check_write(resource_type, interaction, facts)
        self.rule = rule.value
        return rule

    def check_scope_of(self, stored: StoredResource, interaction: str) -> None:
        """A granular scope (`system/CarePlan.cu?subject=Patient/x`) limits what may be
        written: the stored version must match it, by the in-memory matcher that agrees
        with search (access/granular.py), or the whole write is refused and rolled back."""
        if stored.content is None:
            return
        row_filter = self.policy.read_filter(stored.resource_type, interaction)
        if not within_granular_scope(
            row_filter, stored.resource_type, stored.content, base_url=self.repo.base_url
        ):
            raise AccessDenied(
                Rule.SCOPE, f"The granted scopes do not cover this {stored.resource_type}"
            )

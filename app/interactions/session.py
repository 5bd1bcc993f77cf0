"""One request's unit of work as the interaction handlers see it: repo, caller, policy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.access.age import birth_date_from_cpr, is_under, today_in_copenhagen
from app.access.decision import AccessDenied
from app.access.policy import AccessPolicy
from app.access.principal import Principal
from app.access.rules import Rule
from app.access.scopes import ScopeNotGranted
from app.fhir.search.extract import extract_index
from app.fhir.search.memory import search_in_memory
from app.fhir.search.parse import parse_search
from app.interactions.context import RequestContext
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
    policy: AccessPolicy
    own_patient_ids: tuple[str, ...] = ()
    # Resources this request touched, for the AuditEvents: (pk, reference).
    touched: list[tuple[int, str]] = field(default_factory=list)
    # The rule that granted the access, and the query of a search, for the AuditEvents.
    rule: str | None = None
    query: str | None = None

    @property
    def principal(self) -> Principal | None:
        return self.policy.principal

    def touch(self, items: Iterable[tuple[int, str]]) -> None:
        self.touched.extend(items)

    def check_write(
        self,
        resource_type: str,
        interaction: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> Rule:
        """Refuse a write the caller may not make, before anything is written."""
        principal = self.principal
        adult = True
        if principal is not None and principal.user_type == "citizen" and principal.citizen_cpr:
            birth = birth_date_from_cpr(principal.citizen_cpr)
            adult = not is_under(birth, ADULT_ENOUGH_FOR_OPT_OUT, today_in_copenhagen())
        rule = self.policy.check_write(
            resource_type,
            interaction,
            patients_before=patients_of(before),
            patients_after=patients_of(after),
            own_patient_ids=self.own_patient_ids,
            citizen_is_adult_enough=adult,
        )
        if principal is not None and after is not None:
            self._check_granular(principal, resource_type, interaction, after)
        self.rule = rule.value
        return rule

    def _check_granular(
        self, principal: Principal, resource_type: str, interaction: str, content: dict[str, Any]
    ) -> None:
        """A granular scope (e.g. `system/Condition.cu?category=...`) limits what may be written."""
        try:
            filters = principal.scopes.granular_filters(resource_type, interaction)
        except ScopeNotGranted:
            raise AccessDenied(
                Rule.SCOPE, f"No scope grants {interaction} on {resource_type}"
            ) from None
        if filters is None:
            return
        for params in filters:
            request = parse_search([resource_type], list(params), base_url=self.repo.base_url)
            if search_in_memory(request, [content]):
                return
        raise AccessDenied(Rule.SCOPE, f"The granted scopes do not cover this {resource_type}")

"""The authorization policy: principal x scopes x relation x consent x custody.

Pure: it turns who is asking into a RowFilter per resource type (compiled into
the single SQL query by the storage layer) or an AccessDenied naming its rule.
Default deny: a principal kind or relation it does not know gets nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from app.access.custody import CustodyDecision
from app.access.decision import AccessDenied, RowFilter
from app.access.principal import Principal
from app.access.rules import Rule
from app.access.scopes import ScopeNotGranted
from app.fhir.profiles.canonical import HIDDEN_FROM_CUSTODY_HOLDER, SECURITY_LABEL_SYSTEM
from app.fhir.search.definitions import PATIENT_COMPARTMENT

# Types whose rows belong to patients (R4 patient CompartmentDefinition).
PATIENT_DATA_TYPES = frozenset(PATIENT_COMPARTMENT)
HIDDEN_LABEL = (SECURITY_LABEL_SYSTEM, HIDDEN_FROM_CUSTODY_HOLDER)


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The decisions for one request's principal (None: a trusted internal caller)."""

    principal: Principal | None
    custody: CustodyDecision | None = None
    # Patients an external treatment-relation service confirmed for this request.
    confirmed_patient_ids: tuple[str, ...] = ()

    def check_request(self) -> None:
        """Refusals that concern the whole request, whatever it touches."""
        p = self.principal
        if p is None:
            return
        if p.override_reason and p.user_type != "professional":
            raise AccessDenied(
                Rule.OVERRIDE_NOT_ALLOWED,
                "Emergency override (værdispring) is for health professionals only",
            )
        if p.user_type == "citizen" and p.relation not in ("self", "custody"):
            raise AccessDenied(
                Rule.RELATION_NOT_SUPPORTED, f"Relation '{p.relation}' is not supported"
            )
        custody_refused = self.custody is None or not self.custody.allowed
        if p.user_type == "citizen" and p.relation == "custody" and custody_refused:
            decision = self.custody
            raise AccessDenied(
                decision.rule if decision else Rule.NO_CUSTODY,
                decision.message if decision else "No verified custody of this child",
            )

    def read_filter(self, resource_type: str, interaction: str) -> RowFilter:
        """Which rows of `resource_type` may be read (`read` or `search`); never raises."""
        p = self.principal
        if p is None:
            return RowFilter.everything()
        try:
            granular = p.scopes.granular_filters(resource_type, interaction)
        except ScopeNotGranted:
            return RowFilter.nothing(Rule.SCOPE)
        scoped = tuple(granular) if granular is not None else None
        if resource_type not in PATIENT_DATA_TYPES:
            return RowFilter(rule=Rule.NON_PATIENT_DATA, granular=scoped)
        if p.user_type == "citizen":
            return self._citizen_filter(p, resource_type, scoped)
        if resource_type == "AuditEvent":
            return RowFilter.nothing(Rule.AUDIT_LOG_CITIZEN_ONLY)
        if p.org_sor is None:  # Principal.from_claims guarantees it; fail closed anyway
            return RowFilter.nothing(Rule.TREATMENT_RELATION)
        overridden = bool(p.override_reason)
        return RowFilter(
            rule=Rule.OVERRIDE if overridden else Rule.TREATMENT_RELATION,
            relation_org_sor=p.org_sor,
            extra_patient_ids=self.confirmed_patient_ids,
            opt_out_org_sor=None if overridden else p.org_sor,
            opt_out_authorization_id=None if overridden else p.authorization_id,
            granular=scoped,
        )

    def _citizen_filter(
        self,
        p: Principal,
        resource_type: str,
        scoped: tuple[tuple[tuple[str, str], ...], ...] | None,
    ) -> RowFilter:
        if p.relation == "self" and p.citizen_cpr:
            return RowFilter(rule=Rule.CITIZEN_SELF, patient_cprs=(p.citizen_cpr,), granular=scoped)
        if p.relation == "custody" and p.citizen_cpr and self.custody and self.custody.allowed:
            return RowFilter(
                rule=self.custody.rule,
                patient_cprs=(p.citizen_cpr,),
                excluded_labels=(HIDDEN_LABEL,),
                granular=scoped,
            )
        return RowFilter.nothing(Rule.RELATION_NOT_SUPPORTED)

    def check_write(
        self,
        resource_type: str,
        interaction: str,
        *,
        patients_before: Collection[str],
        patients_after: Collection[str],
        own_patient_ids: Collection[str] = (),
        citizen_is_adult_enough: bool = True,
    ) -> Rule:
        """Refuse a write before it executes; returns the granting rule.

        Reading the current version under `read_filter` (which the caller does first)
        enforces the treatment relation for updates and deletes.
        """
        p = self.principal
        if p is None:
            return Rule.INTERNAL
        if not p.scopes.allows(resource_type, interaction):
            raise AccessDenied(Rule.SCOPE, f"No scope grants {interaction} on {resource_type}")
        if patients_before and set(patients_after) != set(patients_before):
            raise AccessDenied(
                Rule.SAME_PATIENT, "A write can never move a resource to another patient"
            )
        if p.user_type == "citizen":
            if p.relation != "self":
                raise AccessDenied(Rule.CUSTODY_READ_ONLY, "Custody holders have read-only access")
            own = set(own_patient_ids)
            touched = set(patients_after) | set(patients_before)
            if resource_type != "Consent" or not touched or not touched <= own:
                raise AccessDenied(
                    Rule.CITIZEN_WRITES_OWN_OPT_OUT,
                    "Citizens may only create and revoke their own opt-out (Consent)",
                )
            if not citizen_is_adult_enough:
                raise AccessDenied(
                    Rule.CITIZEN_WRITES_OWN_OPT_OUT,
                    "Opt-outs can be managed by citizens from age 15",
                )
            return Rule.CITIZEN_WRITES_OWN_OPT_OUT
        return Rule.TREATMENT_RELATION

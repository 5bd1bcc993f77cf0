"""The authorization policy: principal x scopes x relation x consent x custody.

Pure: it turns who is asking into a RowFilter per resource type and interaction
(compiled into the single SQL query by the storage layer) or an AccessDenied naming
its rule. Default deny: a principal kind or relation it does not know gets nothing.
Where an organisation's access comes from is in docs/authorization.md ("Sources").
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from app.access.authorities import Authorities
from app.access.custody import CustodyDecision
from app.access.decision import AccessDenied, RowFilter
from app.access.principal import Principal
from app.access.rules import Rule
from app.access.scopes import ScopeNotGranted
from app.fhir.profiles.canonical import HIDDEN_FROM_CUSTODY_HOLDER, SECURITY_LABEL_SYSTEM
from app.fhir.resource_types import STORED_TYPES
from app.fhir.search.definitions import PATIENT_COMPARTMENT

# Types whose rows belong to patients (R4 patient CompartmentDefinition).
PATIENT_DATA_TYPES = frozenset(PATIENT_COMPARTMENT)
HIDDEN_LABEL = (SECURITY_LABEL_SYSTEM, HIDDEN_FROM_CUSTODY_HOLDER)
# What the server writes a Provenance for: every stored type but its own records.
PROVENANCE_TARGET_TYPES = tuple(sorted(STORED_TYPES - {"AuditEvent", "Provenance"}))
# Interactions that change an existing resource (only its author may).
_CHANGES = frozenset({"update", "patch", "delete"})


@dataclass(frozen=True, slots=True)
class WriteFacts:
    """What a write touches, read by the caller before the policy decides."""

    patients_before: Collection[str] = ()
    patients_after: Collection[str] = ()
    # The organisation that created the resource being changed (None: not an org).
    author_sor: str | None = None
    # A custody record (PARAUTH RelatedPerson) before or after the write.
    custody_record: bool = False
    # For citizens: whether they are old enough to manage their opt-out (§17).
    citizen_is_adult_enough: bool = True


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The decisions for one request's principal."""

    principal: Principal
    authorities: Authorities = field(default_factory=Authorities)
    custody: CustodyDecision | None = None
    # Patients an external treatment-relation service confirmed for this request.
    confirmed_patient_ids: tuple[str, ...] = ()
    # A citizen's own Patient id(s) (what their opt-out Consents may be about).
    own_patient_ids: tuple[str, ...] = ()

    @classmethod
    def internal(cls, job: str) -> AccessPolicy:
        """The policy of one of the service's own jobs (audit writer, operator load)."""
        return cls(Principal.internal(job))

    def check_request(self) -> None:
        """Refusals that concern the whole request, whatever it touches."""
        p = self.principal
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
        """Which rows of `resource_type` the interaction may see or touch; never raises.

        `interaction` selects the scope letter (SMART v2: read/vread/history-instance `r`,
        search and type/system history `s`, update/patch `u`, delete `d`).
        """
        p = self.principal
        if p.is_internal:
            return RowFilter.everything()
        try:
            granular = p.scopes.granular_filters(resource_type, interaction)
        except ScopeNotGranted:
            return RowFilter.nothing(Rule.SCOPE)
        scoped = tuple(granular) if granular is not None else None
        if resource_type == "Provenance":
            return self._provenance_filter(interaction, scoped)
        if resource_type == "Subscription":  # endpoints and headers are the owner's business
            return RowFilter(rule=Rule.OWN_SUBSCRIPTIONS, owner_key=p.owner_key, granular=scoped)
        if resource_type not in PATIENT_DATA_TYPES:
            return RowFilter(rule=Rule.NON_PATIENT_DATA, granular=scoped)
        if p.user_type == "citizen":
            return self._citizen_filter(p, scoped)
        if not p.is_organisation or p.org_sor is None:
            return RowFilter.nothing(Rule.TREATMENT_RELATION)  # unknown kinds get nothing
        if resource_type == "AuditEvent":
            return RowFilter.nothing(Rule.AUDIT_LOG_CITIZEN_ONLY)
        overridden = bool(p.override_reason)
        return RowFilter(
            rule=Rule.OVERRIDE if overridden else Rule.TREATMENT_RELATION,
            org_sor=p.org_sor,
            relation_authorities=tuple(sorted(self.authorities.relation)),
            extra_patient_ids=self.confirmed_patient_ids,
            opt_out_org_sor=None if overridden else p.org_sor,
            opt_out_authorization_id=None if overridden else p.authorization_id,
            granular=scoped,
        )

    def _provenance_filter(
        self, interaction: str, scoped: tuple[tuple[tuple[str, str], ...], ...] | None
    ) -> RowFilter:
        """A Provenance names who wrote which version of its target: whoever may not see the
        target (opt-out, §37 stk. 2 label, no relation, custody ended at 15) may not see it
        either, for the same interaction. Types the caller sees nothing of are left out."""
        targets = tuple(
            (t, f)
            for t in PROVENANCE_TARGET_TYPES
            if not (f := self.read_filter(t, interaction)).deny_all
        )
        return RowFilter(rule=Rule.PROVENANCE_FOLLOWS_TARGET, targets=targets, granular=scoped)

    def _citizen_filter(
        self, p: Principal, scoped: tuple[tuple[tuple[str, str], ...], ...] | None
    ) -> RowFilter:
        if p.relation == "self" and p.citizen_cpr:
            return RowFilter(rule=Rule.CITIZEN_SELF, patient_cprs=(p.citizen_cpr,), granular=scoped)
        if p.relation == "custody" and p.citizen_cpr and self.custody and self.custody.allowed:
            return RowFilter(
                rule=self.custody.rule,
                patient_cprs=(p.citizen_cpr,),
                excluded_labels=(HIDDEN_LABEL,),
                hide_what_labels_lead_to=True,
                granular=scoped,
            )
        return RowFilter.nothing(Rule.RELATION_NOT_SUPPORTED)

    @property
    def author_sor(self) -> str | None:
        """The organisation recorded as author of what this principal writes."""
        p = self.principal
        return p.org_sor if p.is_organisation else None

    def check_write(self, resource_type: str, interaction: str, facts: WriteFacts) -> Rule:
        """Refuse a write before it executes; returns the granting rule.

        The caller has already read the current version under `read_filter` for the
        same interaction, so a resource the caller may not see never gets here.
        """
        p = self.principal
        if p.is_internal:
            return Rule.INTERNAL
        if not p.scopes.allows(resource_type, interaction):
            raise AccessDenied(Rule.SCOPE, f"No scope grants {interaction} on {resource_type}")
        before, after = set(facts.patients_before), set(facts.patients_after)
        if before and after != before:
            raise AccessDenied(
                Rule.SAME_PATIENT, "A write can never move a resource to another patient"
            )
        if p.user_type == "citizen":
            return self._citizen_write(p, resource_type, before | after, facts)
        if not p.is_organisation or p.org_sor is None:
            raise AccessDenied(Rule.AUTHOR_ONLY, "Only organisations and citizens may write")
        if interaction in _CHANGES and facts.author_sor != p.org_sor:
            raise AccessDenied(
                Rule.AUTHOR_ONLY,
                f"Only the organisation that created this {resource_type} may change it",
            )
        if facts.custody_record and not self.authorities.records_custody(p.org_sor):
            raise AccessDenied(
                Rule.CUSTODY_AUTHORITY_ONLY,
                "Custody (PARAUTH) is recorded only by a custody authority (the CPR registry)",
            )
        return Rule.WRITES_AS_AUTHOR

    def _citizen_write(
        self, p: Principal, resource_type: str, touched: set[str], facts: WriteFacts
    ) -> Rule:
        if resource_type == "Subscription":  # not patient data: the citizen's own request
            return Rule.OWN_SUBSCRIPTIONS
        if p.relation != "self":
            raise AccessDenied(Rule.CUSTODY_READ_ONLY, "Custody holders have read-only access")
        if resource_type != "Consent" or not touched or not touched <= set(self.own_patient_ids):
            raise AccessDenied(
                Rule.CITIZEN_WRITES_OWN_OPT_OUT,
                "Citizens may only create and revoke their own opt-out (Consent)",
            )
        if not facts.citizen_is_adult_enough:
            raise AccessDenied(
                Rule.CITIZEN_WRITES_OWN_OPT_OUT, "Opt-outs can be managed by citizens from age 15"
            )
        return Rule.CITIZEN_WRITES_OWN_OPT_OUT

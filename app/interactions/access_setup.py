"""Builds a request's AccessPolicy from its principal and the facts it needs.

Facts come from the database through `AccessFacts` (custody records written by a custody
authority, the caller's own Patient, recorded treatment relations) and, when configured,
from the national custody registry and treatment-relation service.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.access.age import today_in_copenhagen
from app.access.authorities import Authorities
from app.access.custody import CustodyDecision, decide_custody
from app.access.decision import AccessDenied
from app.access.policy import AccessPolicy
from app.access.principal import InvalidOverride, Principal
from app.access.rules import Rule
from app.fhir.outcome import bad_request
from app.fhir.profiles.canonical import CPR_SYSTEM
from app.integrations.registries import CustodyRegistry, TreatmentRelationService
from app.interactions.context import RequestContext
from app.interactions.request import FhirRequest
from app.storage.access_facts import AccessFacts

_PATIENT_PARAMS = ("patient", "subject")


class ChildAccessDenied(AccessDenied):
    """A custody holder refused for a child: audited in the child's MinLog."""

    def __init__(self, rule: Rule, message: str, patient_ids: tuple[str, ...]) -> None:
        super().__init__(rule, message)
        self.patient_ids = patient_ids


@dataclass(frozen=True, slots=True)
class ExternalRegistries:
    custody: CustodyRegistry | None = None
    treatment_relation: TreatmentRelationService | None = None


def effective_principal(ctx: RequestContext) -> Principal:
    """The principal with the per-request override header (X-Consent-Override) applied."""
    principal = ctx.principal
    if not ctx.override_reason:
        return principal
    if principal.user_type != "professional":
        raise AccessDenied(
            Rule.OVERRIDE_NOT_ALLOWED,
            "Emergency override (værdispring) is for health professionals only",
        )
    try:
        return principal.with_override(ctx.override_reason)
    except InvalidOverride as exc:
        raise bad_request(f"X-Consent-Override: {exc}", "X-Consent-Override") from None


async def _custody(
    facts: AccessFacts,
    principal: Principal,
    registries: ExternalRegistries,
    authorities: Authorities,
) -> CustodyDecision:
    parent, child_cpr = principal.acting_cpr or "", principal.citizen_cpr or ""
    child = await facts.child(child_cpr)
    records = await facts.custody_records(child.patient_ids, authorities.custody)
    today = today_in_copenhagen()
    decision = decide_custody(
        parent_cpr=parent, child_cpr=child_cpr, child=child, related_persons=records, today=today
    )
    if not decision.allowed and decision.rule == Rule.NO_CUSTODY and registries.custody:
        confirmed = await registries.custody.has_custody(parent, child_cpr)
        decision = decide_custody(
            parent_cpr=parent,
            child_cpr=child_cpr,
            child=child,
            related_persons=records,
            today=today,
            registry_confirms=confirmed,
        )
    if not decision.allowed:
        raise ChildAccessDenied(decision.rule, decision.message, child.patient_ids)
    return decision


async def _named_patients(facts: AccessFacts, req: FhirRequest) -> set[str]:
    """The Patient ids a request names: patient/subject parameters, CPR chains, the target."""
    ids: set[str] = set()
    cprs: set[str] = set()
    for name, value in req.query:
        base = name.split(":")[0]
        if base in _PATIENT_PARAMS:
            ids.update(v.removeprefix("Patient/") for v in value.split(","))
        elif base.split(".")[0] in _PATIENT_PARAMS and name.endswith(".identifier"):
            cprs.update(v.split("|")[-1] for v in value.split(",") if v.startswith(CPR_SYSTEM))
    for cpr in cprs:
        found = await facts.patient_for_cpr(cpr)
        if found is not None:
            ids.add(found[1])
    if req.resource_type and req.resource_id:
        ids |= await facts.compartment_of(req.resource_type, req.resource_id)
    return ids


async def _confirmed_elsewhere(
    facts: AccessFacts,
    principal: Principal,
    req: FhirRequest,
    service: TreatmentRelationService,
    authorities: Authorities,
) -> tuple[str, ...]:
    """Patients the external service confirms a relation to, where none is recorded here."""
    if not principal.org_sor:
        return ()
    named = await _named_patients(facts, req)
    recorded = await facts.related_patients(principal.org_sor, named, authorities.relation)
    confirmed = []
    for pid, cpr in sorted((await facts.cprs_of_patients(named - recorded)).items()):
        if await service.has_relation(principal.org_sor, cpr):
            confirmed.append(pid)
    return tuple(confirmed)


async def build_policy(
    facts: AccessFacts,
    ctx: RequestContext,
    req: FhirRequest,
    registries: ExternalRegistries,
    authorities: Authorities,
) -> AccessPolicy:
    """The policy for this request; AccessDenied if it is refused outright."""
    principal = effective_principal(ctx)
    if principal.is_internal:
        return AccessPolicy(principal, authorities)
    if principal.user_type != "citizen":
        confirmed: tuple[str, ...] = ()
        if registries.treatment_relation is not None:
            confirmed = await _confirmed_elsewhere(
                facts, principal, req, registries.treatment_relation, authorities
            )
        policy = AccessPolicy(principal, authorities, confirmed_patient_ids=confirmed)
        policy.check_request()
        return policy
    own: tuple[str, ...] = ()
    custody = None
    if principal.relation == "custody" and principal.acting_cpr and principal.citizen_cpr:
        custody = await _custody(facts, principal, registries, authorities)
    elif principal.citizen_cpr:
        found = await facts.patient_for_cpr(principal.citizen_cpr)
        own = (found[1],) if found else ()
    policy = AccessPolicy(principal, authorities, custody=custody, own_patient_ids=own)
    policy.check_request()
    return policy

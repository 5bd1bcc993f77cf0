"""Builds a request's AccessPolicy from its principal and the facts in the database."""

from __future__ import annotations

from app.access.custody import decide_custody
from app.access.decision import AccessDenied
from app.access.policy import AccessPolicy
from app.access.principal import InvalidOverride, Principal
from app.access.rules import Rule
from app.access.age import today_in_copenhagen
from app.fhir.outcome import bad_request
from app.interactions.context import RequestContext
from app.storage.access_facts import custody_records, load_child, patients_with_cpr
from app.storage.repository import Repository


def effective_principal(ctx: RequestContext) -> Principal | None:
    """The principal with the per-request override header (X-Consent-Override) applied."""
    principal = ctx.principal
    if principal is None or not ctx.override_reason:
        return principal
    if principal.user_type != "professional":
        raise AccessDenied(
            Rule.OVERRIDE_NOT_ALLOWED, "Emergency override (værdispring) is for health professionals only"
        )
    try:
        return principal.with_override(ctx.override_reason)
    except InvalidOverride as exc:
        raise bad_request(f"X-Consent-Override: {exc}", "X-Consent-Override") from None


async def build_policy(repo: Repository, ctx: RequestContext) -> tuple[AccessPolicy, tuple[str, ...]]:
    """(policy, the caller's own Patient ids) for this request; AccessDenied if refused outright."""
    principal = effective_principal(ctx)
    if principal is None or principal.user_type != "citizen" or not principal.citizen_cpr:
        policy = AccessPolicy(principal)
        policy.check_request()
        return policy, ()
    own: tuple[str, ...] = ()
    custody = None
    if principal.relation == "custody" and principal.acting_cpr:
        child = await load_child(repo.conn, principal.citizen_cpr)
        custody = decide_custody(
            parent_cpr=principal.acting_cpr,
            child_cpr=principal.citizen_cpr,
            child=child,
            related_persons=await custody_records(repo.conn, child.patient_ids),
            today=today_in_copenhagen(),
        )
        if not custody.allowed:
            raise ChildAccessDenied(custody.rule, custody.message, child.patient_ids)
    else:
        own = tuple(pid for pid, _ in await patients_with_cpr(repo.conn, principal.citizen_cpr))
    policy = AccessPolicy(principal, custody=custody)
    policy.check_request()
    return policy, own


class ChildAccessDenied(AccessDenied):
    """A custody holder refused for a child: audited in the child's MinLog."""

    def __init__(self, rule: Rule, message: str, patient_ids: tuple[str, ...]) -> None:
        super().__init__(rule, message)
        self.patient_ids = patient_ids

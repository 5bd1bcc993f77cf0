"""Stable names for every grant and refusal (PRINCIPLES.md principle 4).

They appear in OperationOutcome details and AuditEvent.agent.policy, so a
refusal can always be traced to the rule and the law behind it.
"""

from __future__ import annotations

from enum import StrEnum


class Rule(StrEnum):
    INTERNAL = "internal-job"
    SCOPE = "smart-scope"
    NON_PATIENT_DATA = "non-patient-data"
    # An organisation sees what it wrote, what a plan's author shared with it, and all data
    # of the patients it has a treatment relation to from an authority (docs/authorization.md).
    TREATMENT_RELATION = "treatment-relation-sundhedsloven-42a"
    WRITES_AS_AUTHOR = "writes-as-author"
    AUTHOR_ONLY = "only-the-author-changes-a-resource"
    CUSTODY_AUTHORITY_ONLY = "custody-recorded-by-custody-authority"
    OPT_OUT = "opt-out-negativt-samtykke"
    OVERRIDE = "emergency-override-vaerdispring"
    OVERRIDE_NOT_ALLOWED = "override-professionals-only"
    CITIZEN_SELF = "citizen-self"
    CITIZEN_WRITES_OWN_OPT_OUT = "citizen-writes-own-opt-out"
    CUSTODY = "custody-sundhedsloven-39a"
    NO_CUSTODY = "no-verified-custody"
    CHILD_15_OR_OVER = "child-15-or-over-sundhedsloven-39a"
    CONTINUED_AFTER_15 = "custody-continued-sundhedsloven-39b"
    HIDDEN_FROM_CUSTODY_HOLDER = "hidden-from-custody-holder-sundhedsloven-37-2"
    CUSTODY_READ_ONLY = "custody-read-only"
    AUDIT_LOG_CITIZEN_ONLY = "audit-log-citizen-only"
    RELATION_NOT_SUPPORTED = "relation-not-supported"
    SAME_PATIENT = "write-keeps-patient"
    OWN_SUBSCRIPTIONS = "own-subscriptions-only"
    # Aggregated, suppressed counts of a municipality's own plans' outcomes (docs/quality-data.md).
    QUALITY_DATA = "quality-data-aggregate"
    QUALITY_DATA_MUNICIPALITIES_ONLY = "quality-data-municipalities-only"
    BULK_EXPORT_SYSTEM_ONLY = "bulk-export-backend-services-only"
    # A Provenance is visible exactly when the version it describes is (its target's rules).
    PROVENANCE_FOLLOWS_TARGET = "provenance-follows-its-target"

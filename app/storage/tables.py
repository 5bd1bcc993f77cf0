"""Tables. Current pointer + immutable versions + search-index rows.

Version integrity is guaranteed by constraints, not only by Python:
- `resource_version` has primary key (res_pk, version_id): no duplicate versions;
- each version > 1 references its predecessor (res_pk, prev_version): no gaps;
- `resource.(pk, version_id)` references an existing version (deferred): the
  current pointer never names a version that was not written.
Index rows describe the current version only and are rewritten with it; the index table
of each search-parameter type is defined beside its SQL in app.storage.search_types.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from app.storage.schema import metadata
from app.storage.search_types import INDEX_TABLES, search_reference, search_token
from app.storage.types import BigIntKey, JsonDocument, UtcDateTime

__all__ = ["INDEX_TABLES", "metadata", "search_reference", "search_token"]

resource = Table(
    "resource",
    metadata,
    Column("pk", BigIntKey, primary_key=True, autoincrement=True),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", UtcDateTime, nullable=False),
    Column("deleted", Boolean, nullable=False),
    # The organisation (SOR) that created the resource, set by the server from the token;
    # only it may change the resource. NULL: written by a citizen or an internal job.
    Column("author_sor", String(32), nullable=True),
    UniqueConstraint("res_type", "res_id", name="uq_resource_type_id"),
    CheckConstraint("version_id >= 1", name="version_positive"),
    ForeignKeyConstraint(
        ["pk", "version_id"],
        ["resource_version.res_pk", "resource_version.version_id"],
        name="fk_resource_current_version",
        deferrable=True,
        initially="DEFERRED",
        use_alter=True,
    ),
    Index("ix_resource_type_updated", "res_type", "last_updated", "pk"),
    Index("ix_resource_updated", "last_updated", "pk"),
)

resource_version = Table(
    "resource_version",
    metadata,
    Column("res_pk", BigIntKey, ForeignKey("resource.pk", ondelete="CASCADE"), primary_key=True),
    Column("version_id", Integer, primary_key=True),
    Column("prev_version", Integer, nullable=True),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("last_updated", UtcDateTime, nullable=False),
    # The interaction that produced the version (history Bundle entry.request.method).
    Column("method", String(8), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("content", JsonDocument, nullable=True),
    # The organisation that wrote this version (server-set, never from the body).
    Column("author_sor", String(32), nullable=True),
    CheckConstraint(
        "(version_id = 1 AND prev_version IS NULL) OR prev_version = version_id - 1",
        name="version_chain",
    ),
    CheckConstraint("deleted OR content IS NOT NULL", name="content_unless_deleted"),
    ForeignKeyConstraint(
        ["res_pk", "prev_version"],
        ["resource_version.res_pk", "resource_version.version_id"],
        name="fk_resource_version_previous",
    ),
    Index("ix_resource_version_type_updated", "res_type", "last_updated", "res_pk", "version_id"),
    Index("ix_resource_version_updated", "last_updated", "res_pk", "version_id"),
)


# The patient compartment (R4 compartmentdefinition-patient): which patients
# a resource belongs to. The authorization layer filters on it.
compartment = Table(
    "compartment",
    metadata,
    Column("res_pk", BigIntKey, ForeignKey("resource.pk", ondelete="CASCADE"), primary_key=True),
    Column("patient_id", String(64), primary_key=True),
    Index("ix_compartment_patient", "patient_id", "res_pk"),
)

# Treatment relations (sundhedsloven §42a) from evidence: one row per relation record
# (an open EpisodeOfCare, a Patient's generalPractitioner) written by a relation
# authority, so rows per (organisation, patient) stay bounded whatever else is written.
treatment_relation = Table(
    "treatment_relation",
    metadata,
    Column("res_pk", BigIntKey, ForeignKey("resource.pk", ondelete="CASCADE"), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("org_sor", String(32), nullable=False),
    # The authority that recorded it (checked again at read time against the settings).
    Column("recorded_by", String(32), nullable=False),
    UniqueConstraint("res_pk", "patient_id", "org_sor", name="uq_treatment_relation"),
    Index("ix_treatment_relation_org", "org_sor", "patient_id", "recorded_by"),
)

# What a plan's author shares by naming parties (docs/authorization.md, source (b)): one
# row per (plan, named organisation, resource the plan leads to, the plan itself included).
share = Table(
    "share",
    metadata,
    Column("res_pk", BigIntKey, ForeignKey("resource.pk", ondelete="CASCADE"), nullable=False),
    Column("org_sor", String(32), nullable=False),
    Column("author_sor", String(32), nullable=False),
    Column("target_type", String(64), nullable=False),
    Column("target_id", String(64), nullable=False),
    UniqueConstraint("res_pk", "org_sor", "target_type", "target_id", name="uq_share"),
    Index("ix_share_org_target", "org_sor", "target_type", "target_id"),
)

# What plans lead to (their Conditions, Goals, activity references), so that a label on a
# plan protects what only it leads to (sundhedsloven §37 stk. 2).
plan_link = Table(
    "plan_link",
    metadata,
    Column("res_pk", BigIntKey, ForeignKey("resource.pk", ondelete="CASCADE"), nullable=False),
    Column("target_type", String(64), nullable=False),
    Column("target_id", String(64), nullable=False),
    # The plan carries the hidden-from-custody-holder label.
    Column("hidden", Boolean, nullable=False),
    UniqueConstraint("res_pk", "target_type", "target_id", name="uq_plan_link"),
    Index("ix_plan_link_target", "target_type", "target_id", "hidden"),
)

# One Patient per CPR number, held by a unique key so it holds across app nodes.
patient_cpr = Table(
    "patient_cpr",
    metadata,
    Column("cpr", String(10), primary_key=True),
    Column("res_pk", BigIntKey, ForeignKey("resource.pk", ondelete="CASCADE"), nullable=False),
    Index("ix_patient_cpr_res", "res_pk"),
)

# Active opt-outs of sharing (negativt samtykke) computed from Consent resources.
opt_out = Table(
    "opt_out",
    metadata,
    Column("res_pk", BigIntKey, ForeignKey("resource.pk", ondelete="CASCADE"), nullable=False),
    Column("patient_id", String(64), nullable=False),
    # NULL: every organisation; else the organisation (SOR) or professional it blocks.
    Column("actor_sor", String(32), nullable=True),
    Column("actor_authorization_id", String(16), nullable=True),
    Column("period_start", UtcDateTime, nullable=True),
    Column("period_end", UtcDateTime, nullable=True),
    # NULL: every resource type; else one type of provision.class.
    Column("res_type", String(64), nullable=True),
    # NULL: all data; else one `Type/id` of provision.data.
    Column("data_ref", String(140), nullable=True),
    Index("ix_opt_out_patient", "patient_id"),
    Index("ix_opt_out_res", "res_pk"),
)

# Service-wide secrets and markers shared by all app nodes (e.g. the cursor key).
service_setting = Table(
    "service_setting",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Authorization codes and refresh tokens of the development issuer (app/auth/grants.py),
# shared by every worker process. Only a SHA-256 of each token is stored.
oauth_grant = Table(
    "oauth_grant",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # code | refresh
    # Every code and refresh token of one authorization shares a family: a replayed
    # code or refresh token revokes the whole family (RFC 9700 §2.2.2, §4.14.2).
    Column("family", String(64), nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("data", Text, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
    Index("ix_oauth_grant_family", "family"),
    Index("ix_oauth_grant_expires_at", "expires_at"),
)

# Fixed-window counters of the rate limits (token requests, failed authentications),
# shared by all app nodes. `key` is a SHA-256 of the counter's kind and subject, so no
# address or client id is stored in clear.
rate_limit = Table(
    "rate_limit",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("window_start", Float, nullable=False),
    Column("hits", Integer, nullable=False),
    Index("ix_rate_limit_window_start", "window_start"),
)

# Every version written, in the order readers may take it (last_updated under the commit
# horizon, then seq): what the subscription worker walks (app/subscriptions/worker.py).
outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigIntKey, primary_key=True, autoincrement=True),
    Column("res_pk", BigIntKey, ForeignKey("resource.pk", ondelete="CASCADE"), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", UtcDateTime, nullable=False),
    Index("ix_outbox_type_updated", "res_type", "last_updated", "seq"),
)

# The delivery state of each Subscription: who owns it (and acts when it is delivered),
# how far it has got in the outbox, its retries and which worker holds it (a lease).
subscription_state = Table(
    "subscription_state",
    metadata,
    Column("res_pk", BigIntKey, ForeignKey("resource.pk", ondelete="CASCADE"), primary_key=True),
    Column("owner", String(128), nullable=False),
    # Principal.snapshot() of the owner: whose access decides what it is notified of.
    Column("principal", JsonDocument, nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    # The last outbox position processed: (last_updated, seq); events after it are due.
    Column("cursor_at", UtcDateTime, nullable=False),
    Column("cursor_seq", BigIntKey, nullable=False),
    Column("events", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_failure_at", UtcDateTime, nullable=True),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Index("ix_subscription_state_owner", "owner"),
    Index("ix_subscription_state_due", "status", "next_attempt_at"),
)

# Bulk Data $export jobs (app/exports/worker.py, docs/bulk.md): who asked (the client,
# and its principal, as whom the job reads), what it asked for, how far it has got (the
# types whose file is complete), and which worker holds it (a lease).
export_job = Table(
    "export_job",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(255), nullable=False),
    # Principal.snapshot() of the client: the job reads as it, never as the service.
    Column("principal", JsonDocument, nullable=False),
    Column("level", String(16), nullable=False),  # system | patient
    Column("request", Text, nullable=False),  # the kick-off URL
    # {"types": [...], "since": instant | None, "type_filters": {type: query}}
    Column("params", JsonDocument, nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | complete | failed
    Column("transaction_time", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    # [{"type", "file", "count"}] of the types whose file is complete (renamed into place).
    Column("output", JsonDocument, nullable=False),
    Column("progress", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Index("ix_export_job_owner", "owner"),
    Index("ix_export_job_due", "status", "lease_until"),
    Index("ix_export_job_expires_at", "expires_at"),
)

# The patients whose data an export job wrote, one row each: one AuditEvent per patient
# when the job completes, however many pages or files held their data.
export_patient = Table(
    "export_patient",
    metadata,
    Column("job_id", String(64), ForeignKey("export_job.id", ondelete="CASCADE"), primary_key=True),
    Column("patient_id", String(64), primary_key=True),
)

# The audit log (MinLog): one row per access, refusals included, served as AuditEvent
# (app.fhir.audit_event renders a row). Append-only: nothing updates or deletes a row, and
# the API refuses AuditEvent writes. A row is one small INSERT: no FHIR document, no
# generic index rows (#14 part 2). `pk` orders and pages; `id` is the AuditEvent's id.
audit_log = Table(
    "audit_log",
    metadata,
    Column("pk", BigIntKey, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("recorded", UtcDateTime, nullable=False),
    Column("interaction", String(64), nullable=False),
    Column("action", String(1), nullable=False),
    Column("outcome", String(2), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("purpose", String(32), nullable=True),
    Column("override_reason", Text, nullable=True),
    # Who: the principal's user type and what the agents name of it (names and client ids
    # as the token and the Organization give them: unbounded text).
    Column("agent_type", String(16), nullable=False),
    Column("internal_job", Text, nullable=True),
    Column("org_sor", String(32), nullable=True),
    Column("org_name", Text, nullable=True),
    Column("person_cpr", String(16), nullable=True),
    Column("person_relation", String(16), nullable=True),
    Column("person_alt_id", String(32), nullable=True),
    Column("client_id", Text, nullable=True),
    Column("patient_id", String(64), nullable=True),
    # The other resources the event names, in order (["Type/id", ...]).
    Column("resources", JsonDocument, nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("query", Text, nullable=True),
    Column("description", Text, nullable=True),
    # AuditEvents moved here by migration 0012 are served exactly as they were stored.
    Column("legacy", JsonDocument, nullable=True),
    Index("ix_audit_log_recorded", "recorded", "pk"),
    Index("ix_audit_log_patient", "patient_id", "recorded"),
)

# Every reference an audit row's entities name (its patient's included): what the
# `patient` and `entity` searches, and the "hidden means hidden" rule, look up.
audit_entity = Table(
    "audit_entity",
    metadata,
    Column("audit_id", String(64), ForeignKey("audit_log.id"), nullable=False),
    Column("target_type", String(64), nullable=False),
    Column("target_id", String(64), nullable=False),
    Index("ix_audit_entity_audit", "audit_id"),
    Index("ix_audit_entity_target", "target_type", "target_id", "audit_id"),
)

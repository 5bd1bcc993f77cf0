"""The audit log in its own append-only table (issue #14 part 2, docs/audit.md).

AuditEvents were full resources (head, version, JSON, search-index and compartment rows);
now each is one `audit_log` row, its entity references in `audit_entity`, rendered as the
AuditEvent when read. Upgrade moves every stored AuditEvent: its JSON is kept verbatim
(`legacy`, served exactly as it was), the searched columns are read out of it, and its rows
in the generic tables are deleted.

Downgrade moves them back as version 1 of a resource with their compartment rows; their
search-index rows are rebuilt by `esp-careplans reindex AuditEvent` (the previous
release's command), which must run right after it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_WHEN = sa.DateTime(timezone=True)
_BATCH = 500

RULE_BASE = "http://esp-careplans.dk/fhir/rule/"
SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"
CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
INTERNAL_PREFIX, INTERNAL_SUFFIX = "esp-careplans (internal job: ", ")"
CLIENT_PREFIX = "client "

_COLUMNS = (
    "id",
    "recorded",
    "interaction",
    "action",
    "outcome",
    "rule",
    "purpose",
    "override_reason",
    "agent_type",
    "internal_job",
    "org_sor",
    "org_name",
    "person_cpr",
    "person_relation",
    "person_alt_id",
    "client_id",
    "patient_id",
    "resources",
    "request_id",
    "query",
    "description",
    "legacy",
)


def _create_tables() -> None:
    op.create_table(
        "audit_log",
        sa.Column("pk", _PK, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("recorded", _WHEN, nullable=False),
        sa.Column("interaction", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=1), nullable=False),
        sa.Column("outcome", sa.String(length=2), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("agent_type", sa.String(length=16), nullable=False),
        sa.Column("internal_job", sa.Text(), nullable=True),
        sa.Column("org_sor", sa.String(length=32), nullable=True),
        sa.Column("org_name", sa.Text(), nullable=True),
        sa.Column("person_cpr", sa.String(length=16), nullable=True),
        sa.Column("person_relation", sa.String(length=16), nullable=True),
        sa.Column("person_alt_id", sa.String(length=32), nullable=True),
        sa.Column("client_id", sa.Text(), nullable=True),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("resources", _JSON, nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("legacy", _JSON, nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_log_id")),
    )
    op.create_index("ix_audit_log_recorded", "audit_log", ["recorded", "pk"])
    op.create_index("ix_audit_log_patient", "audit_log", ["patient_id", "recorded"])
    op.create_table(
        "audit_entity",
        sa.Column("audit_id", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audit_log.id"], name=op.f("fk_audit_entity_audit_id_audit_log")
        ),
    )
    op.create_index("ix_audit_entity_audit", "audit_entity", ["audit_id"])
    op.create_index(
        "ix_audit_entity_target", "audit_entity", ["target_type", "target_id", "audit_id"]
    )


def _code(value: Any) -> str | None:
    """The first coding's code of a CodeableConcept."""
    codings = value.get("coding") if isinstance(value, dict) else None
    return codings[0].get("code") if codings else None


def _reference(entity: dict[str, Any]) -> tuple[str, str] | None:
    literal = (entity.get("what") or {}).get("reference")
    if not isinstance(literal, str) or literal.count("/") != 1:
        return None
    target_type, target_id = literal.split("/")
    return target_type, target_id


def _columns(audit_id: str, recorded: Any, event: dict[str, Any]) -> dict[str, Any]:
    """The audit_log row of a stored AuditEvent (as app.fhir.audit_event renders rows)."""
    by_type = {_code(a.get("type")): a for a in event.get("agent") or []}
    internal = by_type.get("dataprocessor")
    org = by_type.get("datacollector")
    person = by_type.get("humanuser")
    client = by_type.get("DEV")
    policies = [p for a in event.get("agent") or [] for p in a.get("policy") or []]
    rule = policies[0][len(RULE_BASE) :] if policies else ""
    purpose = (event.get("purposeOfEvent") or [{}])[0]
    purpose_code = _code(purpose)
    entities = event.get("entity") or []
    patient = next(
        (e for e in entities if (e.get("role") or {}).get("code") == "1" and _reference(e)), None
    )
    patient_ref = _reference(patient) if patient else None
    resources = [
        f"{ref[0]}/{ref[1]}"
        for e in entities
        if e is not patient and (ref := _reference(e)) is not None
    ]
    query = next(
        (e.get("description") for e in entities if (e.get("role") or {}).get("code") == "24"),
        None,
    )
    description = event.get("outcomeDesc") or ""
    request_id = None
    if description.endswith(")") and " (request " in description:
        description, _, tail = description.rpartition(" (request ")
        request_id = tail[:-1]
    if internal is not None:
        agent_type = "internal"
    elif org is not None and org.get("requestor"):
        agent_type = "system"
    elif org is not None:
        agent_type = "professional"
    else:
        agent_type = "citizen"
    org_who = (org or {}).get("who") or {}
    person_who = (person or {}).get("who") or {}
    internal_display = ((internal or {}).get("who") or {}).get("display") or ""
    client_display = ((client or {}).get("who") or {}).get("display") or ""
    role = _code(((person or {}).get("role") or [{}])[0])
    return {
        "id": audit_id,
        "recorded": recorded,
        "interaction": _code({"coding": event.get("subtype") or [{}]}) or "",
        "action": event.get("action") or "E",
        "outcome": event.get("outcome") or "0",
        "rule": rule[:64],
        "purpose": purpose_code if purpose_code not in ("TREAT", "ETREAT") else None,
        "override_reason": purpose.get("text"),
        "agent_type": agent_type,
        "internal_job": (
            internal_display.removeprefix(INTERNAL_PREFIX).removesuffix(INTERNAL_SUFFIX)
            if internal is not None
            else None
        ),
        "org_sor": (org_who.get("identifier") or {}).get("value"),
        "org_name": org_who.get("display"),
        "person_cpr": (person_who.get("identifier") or {}).get("value"),
        "person_relation": "custody" if role == "PARAUTH" else None,
        "person_alt_id": (person or {}).get("altId"),
        "client_id": client_display.removeprefix(CLIENT_PREFIX) if client else None,
        "patient_id": patient_ref[1] if patient_ref else None,
        "resources": json.dumps(resources),
        "request_id": request_id,
        "query": query,
        "description": None if description == rule else description,
        "legacy": json.dumps(event, ensure_ascii=False),
    }


def _tables_referencing_resource(bind: sa.Connection) -> list[str]:
    inspector = sa.inspect(bind)
    return sorted(
        name
        for name in inspector.get_table_names()
        if name != "resource"
        and any(fk["referred_table"] == "resource" for fk in inspector.get_foreign_keys(name))
    )


def upgrade() -> None:
    _create_tables()
    bind = op.get_bind()
    names, params = ", ".join(_COLUMNS), ", ".join(":" + c for c in _COLUMNS)
    insert_log = sa.text(f"INSERT INTO audit_log ({names}) VALUES ({params})")  # noqa: S608
    insert_entity = sa.text(
        "INSERT INTO audit_entity (audit_id, target_type, target_id) VALUES (:a, :t, :i)"
    )
    last_pk = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT r.pk, r.res_id, r.last_updated, v.content FROM resource r"
                " JOIN resource_version v ON v.res_pk = r.pk AND v.version_id = r.version_id"
                " WHERE r.res_type = 'AuditEvent' AND r.pk > :last AND NOT r.deleted"
                " ORDER BY r.pk LIMIT :n"
            ),
            {"last": last_pk, "n": _BATCH},
        ).all()
        if not rows:
            break
        last_pk = rows[-1].pk
        logs, entities = [], []
        for row in rows:
            event = row.content if isinstance(row.content, dict) else json.loads(row.content)
            logs.append(_columns(row.res_id, row.last_updated, event))
            refs = dict.fromkeys(r for e in event.get("entity") or [] if (r := _reference(e)))
            entities.extend({"a": row.res_id, "t": t, "i": i} for t, i in refs)
        bind.execute(insert_log, logs)
        if entities:
            bind.execute(insert_entity, entities)
    audit_pks = "SELECT pk FROM resource WHERE res_type = 'AuditEvent'"
    for table in _tables_referencing_resource(bind):
        op.execute(f"DELETE FROM {table} WHERE res_pk IN ({audit_pks})")  # noqa: S608
    op.execute("DELETE FROM resource WHERE res_type = 'AuditEvent'")


def downgrade() -> None:
    from app.fhir.audit_event import AuditEntry, render_audit_event
    from app.fhir.instant import format_instant

    bind = op.get_bind()
    log = sa.table("audit_log", *(sa.column(c) for c in ("pk", *_COLUMNS)))
    last_pk = 0
    while True:
        rows = bind.execute(
            sa.select(log).where(log.c.pk > last_pk).order_by(log.c.pk).limit(_BATCH)
        ).all()
        if not rows:
            break
        last_pk = rows[-1].pk
        for row in rows:
            values = row._asdict()
            legacy = values.pop("legacy")
            recorded = values["recorded"]
            if legacy is not None:
                content = legacy if isinstance(legacy, dict) else json.loads(legacy)
            else:
                fields = {k: values[k] for k in _COLUMNS if k not in ("id", "action", "legacy")}
                resources = fields["resources"]
                fields["resources"] = tuple(
                    resources if isinstance(resources, list) else json.loads(resources)
                )
                when = recorded if not isinstance(recorded, str) else _parse(recorded)
                fields["recorded"] = when
                event = render_audit_event(AuditEntry(**fields))
                meta = {**event.get("meta", {}), "versionId": "1"}
                meta["lastUpdated"] = format_instant(when)
                content = {"resourceType": "AuditEvent", "id": row.id, "meta": meta}
                content.update(
                    (k, v) for k, v in event.items() if k not in ("resourceType", "meta")
                )
            pk = bind.execute(
                sa.text(
                    "INSERT INTO resource (res_type, res_id, version_id, last_updated, deleted)"
                    " VALUES ('AuditEvent', :i, 1, :t, false) RETURNING pk"
                ),
                {"i": row.id, "t": recorded},
            ).scalar_one()
            bind.execute(
                sa.text(
                    "INSERT INTO resource_version (res_pk, version_id, res_type, res_id,"
                    " last_updated, method, deleted, content)"
                    " VALUES (:pk, 1, 'AuditEvent', :i, :t, 'POST', false, :c)"
                ),
                {
                    "pk": pk,
                    "i": row.id,
                    "t": recorded,
                    "c": json.dumps(content, ensure_ascii=False),
                },
            )
            patients = {
                e["what"]["reference"].split("/", 1)[1]
                for e in content.get("entity") or []
                if str((e.get("what") or {}).get("reference", "")).startswith("Patient/")
            }
            for patient in sorted(patients):
                bind.execute(
                    sa.text("INSERT INTO compartment (res_pk, patient_id) VALUES (:pk, :p)"),
                    {"pk": pk, "p": patient},
                )
    op.drop_index("ix_audit_entity_target", table_name="audit_entity")
    op.drop_index("ix_audit_entity_audit", table_name="audit_entity")
    op.drop_table("audit_entity")
    op.drop_index("ix_audit_log_patient", table_name="audit_log")
    op.drop_index("ix_audit_log_recorded", table_name="audit_log")
    op.drop_table("audit_log")


def _parse(value: str) -> Any:
    from datetime import UTC, datetime

    instant = datetime.fromisoformat(value)
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant

"""Audit log rows as the AuditEvents the API serves (storage/audit_log.py writes them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from app.fhir.audit_event import RESOURCE_TYPE, AuditEntry, render_audit_event
from app.fhir.instant import format_instant
from app.storage.records import StoredResource
from app.storage.search_rows import StoredRow

# What the history of an AuditEvent says made it.
METHOD = "POST"


def _entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        recorded=row.recorded,
        interaction=row.interaction,
        outcome=row.outcome,
        rule=row.rule,
        patient_id=row.patient_id,
        resources=tuple(row.resources or ()),
        description=row.description,
        query=row.query,
        purpose=row.purpose,
        request_id=row.request_id,
        agent_type=row.agent_type,
        internal_job=row.internal_job,
        org_sor=row.org_sor,
        org_name=row.org_name,
        person_cpr=row.person_cpr,
        person_relation=row.person_relation,
        person_alt_id=row.person_alt_id,
        client_id=row.client_id,
        override_reason=row.override_reason,
    )


def content(row: Row[Any]) -> dict[str, Any]:
    """The AuditEvent of a row as stored resources carry it: id and meta first."""
    if row.legacy is not None:
        legacy: dict[str, Any] = row.legacy
        return legacy
    event = render_audit_event(_entry(row))
    meta = dict(event.get("meta") or {})
    meta["versionId"] = "1"
    meta["lastUpdated"] = format_instant(row.recorded)
    result: dict[str, Any] = {"resourceType": RESOURCE_TYPE, "id": row.id, "meta": meta}
    result.update((k, v) for k, v in event.items() if k not in ("resourceType", "meta"))
    return result


def stored(row: Row[Any]) -> StoredResource:
    return StoredResource(
        RESOURCE_TYPE, row.id, 1, row.recorded, False, content(row), METHOD, -row.pk
    )


def stored_row(row: Row[Any]) -> StoredRow:
    return StoredRow(RESOURCE_TYPE, row.id, 1, row.recorded, content(row), -row.pk)

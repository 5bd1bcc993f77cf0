"""AuditRecords and principals covering every shape an AuditEvent takes (golden cases).

`audit_events.json` holds what `audit_event` built for each case before AuditEvents moved
to their own table (#14 part 2); the table's rendering must give the same JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.access.principal import Principal
from app.access.scopes import ScopeSet
from app.audit.events import AuditRecord

SOR = "100000000000001"
CPR = "0101010101"
CHILD = "0202020202"
WHEN = datetime(2026, 11, 30, 12, 34, 56, 789000, tzinfo=UTC)

PRINCIPALS: dict[str, tuple[Principal, str | None]] = {
    "citizen-self": (
        Principal(
            "citizen", "iss", "c", ScopeSet(), acting_cpr=CPR, citizen_cpr=CPR, relation="self"
        ),
        None,
    ),
    "custody-parent": (
        Principal(
            "citizen",
            "iss",
            "p",
            ScopeSet(),
            client_id="app",
            acting_cpr=CPR,
            citizen_cpr=CHILD,
            relation="custody",
        ),
        None,
    ),
    "professional-override": (
        Principal(
            "professional",
            "iss",
            "d",
            ScopeSet(),
            client_id="ehr",
            org_sor=SOR,
            acting_cpr=CPR,
            authorization_id="ABC12",
            override_reason="Akut: bevidstløs",
        ),
        "Aarhus Universitetshospital",
    ),
    "professional-no-name": (
        Principal("professional", "iss", "d", ScopeSet(), org_sor=SOR, acting_cpr=CPR),
        None,
    ),
    "system": (
        Principal("system", "iss", "s", ScopeSet(), client_id="backend", org_sor=SOR),
        "Horsens Kommune",
    ),
    "internal": (Principal.internal("subscription-delivery"), None),
}

RECORDS: dict[str, AuditRecord] = {
    "read": AuditRecord("read", "0", "treatment-relation", "p1", ("CarePlan/a",)),
    "search": AuditRecord(
        "search-type",
        "0",
        "citizen-self",
        "p1",
        ("Patient/p1", "CarePlan/a", "Goal/b"),
        query="CarePlan?patient=p1&_count=10",
    ),
    "refusal": AuditRecord(
        "read",
        "4",
        "opt-out",
        "p1",
        ("CarePlan/a",),
        description="The patient has opted out of sharing with this organisation",
    ),
    "refusal-no-patient": AuditRecord(
        "search-type", "4", "scope", None, description="No scope grants search on CarePlan"
    ),
    "aggregate": AuditRecord(
        "operation",
        "0",
        "quality-data",
        None,
        query="$outcomes?quarter=2026-Q3",
        purpose="HQUALIMP",
    ),
    "notification": AuditRecord(
        "notify",
        "8",
        "own-subscriptions",
        None,
        ("Subscription/s1",),
        description="Notification failed: 503",
    ),
    "create": AuditRecord("create", "0", "writes-as-author", "p2", ("Goal/g", "Patient/p2")),
    "unknown-interaction": AuditRecord("something-new", "12", "internal", "p3"),
}

REQUEST_IDS = (None, "req-42")


def cases() -> list[tuple[str, AuditRecord, Principal, str | None, str | None]]:
    """(name, record, principal, org name, request id) for every combination."""
    return [
        (f"{r}/{p}/{request_id}", record, principal, org_name, request_id)
        for r, record in RECORDS.items()
        for p, (principal, org_name) in PRINCIPALS.items()
        for request_id in REQUEST_IDS
    ]

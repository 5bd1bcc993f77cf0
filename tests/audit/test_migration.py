"""Migration 0012 moves stored AuditEvents into the audit log, and back on downgrade.

AuditEvents written before 0012 (full resources with index and compartment rows) are
served afterwards exactly as they were stored, found by the same searches, and gone
from the generic tables; the columns read out of them render the same JSON again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from app.access.policy import AccessPolicy
from app.audit.events import audit_event
from app.fhir.search.parse import parse_search
from app.storage import audit_rows
from app.storage.engine import create_engine_async, create_engine_sync
from app.storage.repository import SearchLimits
from app.storage.tables import audit_log as audit_log_table
from app.storage.unit_of_work import Storage
from tests.audit.cases import SOR, WHEN, cases
from tests.support.databases import BACKENDS, ROOT, database_for, migrate

CHOSEN = (
    "read/professional-override/req-42",
    "search/custody-parent/None",
    "refusal/system/req-42",
    "refusal-no-patient/citizen-self/None",
    "aggregate/system/req-42",
    "notification/internal/None",
    "create/professional-no-name/req-42",
    "unknown-interaction/internal/req-42",
)


@pytest.fixture(params=BACKENDS)
def at_0010(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_for(request.param, tmp_path, revision="0010")


def _events() -> dict[str, dict[str, Any]]:
    """The chosen golden cases as stored resources (id and meta as the old writer set)."""
    found = {}
    for n, (name, record, principal, org_name, request_id) in enumerate(cases()):
        if name not in CHOSEN:
            continue
        event = audit_event(
            record, principal=principal, recorded=WHEN, org_name=org_name, request_id=request_id
        )
        meta = {
            **event.pop("meta", {}),
            "versionId": "1",
            "lastUpdated": "2026-11-30T12:34:56.789Z",
        }
        found[f"ae-{n}"] = {"resourceType": "AuditEvent", "id": f"ae-{n}", "meta": meta, **event}
    return found


def _store_as_0010(url: str, events: dict[str, dict[str, Any]]) -> None:
    engine = create_engine_sync(url)
    rows = [
        ("Patient", "p1", {"resourceType": "Patient", "id": "p1"}),
        *(("AuditEvent", i, e) for i, e in events.items()),
    ]
    with engine.begin() as conn:
        for pk, (rtype, rid, content) in enumerate(rows, start=1):
            conn.execute(
                text(
                    "INSERT INTO resource (pk, res_type, res_id, version_id, last_updated, deleted)"
                    " VALUES (:pk, :t, :i, 1, :when, false)"
                ),
                {"pk": pk, "t": rtype, "i": rid, "when": WHEN},
            )
            conn.execute(
                text(
                    "INSERT INTO resource_version (res_pk, version_id, res_type, res_id,"
                    " last_updated, method, deleted, content) VALUES (:pk, 1, :t, :i,"
                    " :when, 'POST', false, :c)"
                ),
                {"pk": pk, "t": rtype, "i": rid, "c": json.dumps(content), "when": WHEN},
            )
            refs = [e.get("what", {}).get("reference") for e in content.get("entity", [])]
            patients = {r.split("/")[1] for r in refs if r and r.startswith("Patient/")}
            if rtype == "Patient":
                patients = {rid}
            for patient in sorted(patients):
                conn.execute(
                    text("INSERT INTO compartment (res_pk, patient_id) VALUES (:pk, :p)"),
                    {"pk": pk, "p": patient},
                )
            for ref in (r for r in refs if r):
                target_type, target_id = ref.split("/")
                conn.execute(
                    text(
                        "INSERT INTO search_reference (res_pk, res_type, param, target_type,"
                        " target_id) VALUES (:pk, :t, 'entity', :tt, :ti)"
                    ),
                    {"pk": pk, "t": rtype, "tt": target_type, "ti": target_id},
                )
            conn.execute(
                text(
                    "INSERT INTO search_token (res_pk, res_type, param, code)"
                    " VALUES (:pk, :t, '_id', :i)"
                ),
                {"pk": pk, "t": rtype, "i": rid},
            )
        if conn.dialect.name == "postgresql":  # as if the rows had taken their pks from it
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('resource', 'pk'), max(pk)) FROM resource"
                )
            )
    engine.dispose()


def _on_storage(url: str, work: Any) -> Any:
    async def go() -> Any:
        engine = create_engine_async(url)
        try:
            return await work(Storage(engine, base_url="http://testserver/fhir"))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_0012_moves_audit_events_into_the_log_and_back(at_0010: str) -> None:
    events = _events()
    assert len(events) == len(CHOSEN)
    _store_as_0010(at_0010, events)
    migrate(at_0010)

    engine = create_engine_sync(at_0010)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT res_id FROM resource")).scalars().all() == ["p1"]
        for table in ("resource_version", "compartment", "search_reference", "search_token"):
            left = conn.execute(text(f"SELECT count(*) FROM {table} WHERE res_pk > 1"))
            assert left.scalar_one() == 0, table
        rows = conn.execute(select(audit_log_table).order_by(audit_log_table.c.pk)).all()
    engine.dispose()
    # Served verbatim, and the columns read out of them render the same JSON again.
    assert [audit_rows.content(row) for row in rows] == list(events.values())
    for row in rows:
        fresh = SimpleNamespace(**{**row._mapping, "legacy": None})
        assert json.dumps(audit_rows.content(fresh)) == json.dumps(events[row.id]), row.id  # type: ignore[arg-type]

    async def searches(storage: Storage) -> dict[str, set[str]]:
        found = {}
        async with storage.unit_of_work(AccessPolicy.internal("t"), write=False) as repo:
            for params in (
                [("patient", "p1")],
                [("entity", "CarePlan/a")],
                [("outcome", "4")],
                [("agent:identifier", f"urn:oid:1.2.208.176.1.1|{SOR}")],
                [("subtype", "search-type")],
                [("date", "2026-11-30")],
            ):
                request = parse_search(["AuditEvent"], params, base_url=repo.base_url)
                page = await repo.search(
                    request, cursor=None, cursor_key=b"k", limits=SearchLimits()
                )
                found[params[0][0]] = {row.res_id for row in page.matches}
        return found

    from app.fhir.search.memory import matches

    found = _on_storage(at_0010, searches)
    for name, params in (
        ("patient", [("patient", "p1")]),
        ("entity", [("entity", "CarePlan/a")]),
        ("outcome", [("outcome", "4")]),
        ("agent:identifier", [("agent:identifier", f"urn:oid:1.2.208.176.1.1|{SOR}")]),
        ("subtype", [("subtype", "search-type")]),
        ("date", [("date", "2026-11-30")]),
    ):
        criteria = parse_search(["AuditEvent"], params, base_url="x").criteria_for("AuditEvent")
        assert found[name] == {i for i, e in events.items() if matches(e, criteria)}, name
        assert found[name], name

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = at_0010
    command.downgrade(config, "0010")
    engine = create_engine_sync(at_0010)
    with engine.connect() as conn:
        back = conn.execute(
            text(
                "SELECT v.res_id, v.content FROM resource_version v"
                " WHERE v.res_type = 'AuditEvent' ORDER BY v.res_id"
            )
        ).all()
        contents = {rid: c if isinstance(c, dict) else json.loads(c) for rid, c in back}
        assert contents == events
        in_compartment = (
            conn.execute(
                text(
                    "SELECT r.res_id FROM compartment c JOIN resource r ON r.pk = c.res_pk"
                    " WHERE c.patient_id = 'p1' AND r.res_type = 'AuditEvent'"
                )
            )
            .scalars()
            .all()
        )
        assert set(in_compartment) == {
            i
            for i, e in events.items()
            if any(x.get("what", {}).get("reference") == "Patient/p1" for x in e.get("entity", []))
        }
    engine.dispose()

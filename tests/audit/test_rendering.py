"""An audit log row renders as the AuditEvent the server built before the log had its own
table (#14 part 2): the same JSON for refusals, overrides, aggregates and notifications."""

from __future__ import annotations

import json
from pathlib import Path

from app.audit.events import audit_entry
from app.fhir.audit_event import render_audit_event
from tests.audit.cases import WHEN, cases

GOLDEN = json.loads((Path(__file__).parent / "audit_events.json").read_text(encoding="utf-8"))


def test_every_case_renders_as_the_resource_the_old_builder_wrote() -> None:
    built = cases()
    assert len(built) == len(GOLDEN)
    for name, record, principal, org_name, request_id in built:
        entry = audit_entry(
            record, principal=principal, recorded=WHEN, org_name=org_name, request_id=request_id
        )
        rendered = render_audit_event(entry)
        # Equal as JSON text: key order included (what a client gets byte for byte).
        assert json.dumps(rendered, ensure_ascii=False) == json.dumps(
            GOLDEN[name], ensure_ascii=False
        ), name

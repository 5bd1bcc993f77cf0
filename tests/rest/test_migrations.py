"""Migrations keep what was accepted: 0005 (access from evidence) on data stored by 0004."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app import cli
from app.settings import Settings
from app.storage.engine import create_engine_sync
from tests.support.databases import BACKENDS, database_for, migrate

CPR = "urn:oid:1.2.208.176.1.2"
HOSPITAL, MUNICIPALITY = "100000000000001", "100000000000615"


@pytest.fixture(params=BACKENDS)
def at_0004(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_for(request.param, tmp_path, revision="0004")


def _store_as_0004(url: str) -> None:
    """A Patient and a plan as 0004 stored them, with the retired authorship rows."""
    plan = {
        "resourceType": "CarePlan",
        "id": "plan",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/p"},
        "contained": [
            {
                "resourceType": "CareTeam",
                "id": "team",
                "participant": [
                    {
                        "member": {
                            "identifier": {
                                "system": "urn:oid:1.2.208.176.1.1",
                                "value": MUNICIPALITY,
                            }
                        }
                    }
                ],
            }
        ],
        "careTeam": [{"reference": "#team"}],
    }
    patient = {
        "resourceType": "Patient",
        "id": "p",
        "identifier": [{"system": CPR, "value": "0201609995"}],
    }
    engine = create_engine_sync(url)
    with engine.begin() as conn:
        for pk, rtype, rid, content in (
            (1, "Patient", "p", patient),
            (2, "CarePlan", "plan", plan),
        ):
            conn.execute(
                text(
                    "INSERT INTO resource (pk, res_type, res_id, version_id, last_updated, deleted)"
                    " VALUES (:pk, :t, :i, 1, '2026-11-01T10:00:00+00:00', false)"
                ),
                {"pk": pk, "t": rtype, "i": rid},
            )
            conn.execute(
                text(
                    "INSERT INTO resource_version (res_pk, version_id, res_type, res_id,"
                    " last_updated, method, deleted, content) VALUES (:pk, 1, :t, :i,"
                    " '2026-11-01T10:00:00+00:00', 'POST', false, :c)"
                ),
                {"pk": pk, "t": rtype, "i": rid, "c": json.dumps(content)},
            )
            conn.execute(
                text("INSERT INTO compartment (res_pk, patient_id) VALUES (:pk, 'p')"), {"pk": pk}
            )
            conn.execute(
                text(
                    "INSERT INTO care_relation (res_pk, patient_id, org_sor, kind)"
                    " VALUES (:pk, 'p', :sor, 'author')"
                ),
                {"pk": pk, "sor": HOSPITAL},
            )
        conn.execute(
            text(
                "INSERT INTO search_token (res_pk, res_type, param, system, code)"
                " VALUES (1, 'Patient', 'identifier', :s, '0201609995')"
            ),
            {"s": CPR},
        )
    engine.dispose()


def test_0005_keeps_the_authors_and_db_upgrade_rebuilds_the_access_rows(
    at_0004: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store_as_0004(at_0004)
    migrate(at_0004)
    engine = create_engine_sync(at_0004)
    with engine.connect() as conn:
        authors = dict(conn.execute(text("SELECT res_id, author_sor FROM resource")).all())
        assert authors == {"p": HOSPITAL, "plan": HOSPITAL}
        assert conn.execute(text("SELECT cpr, res_pk FROM patient_cpr")).all() == [
            ("0201609995", 1)
        ]
        marker = "SELECT value FROM service_setting WHERE key = 'access_rows_stale'"
        assert conn.execute(text(marker)).scalar_one() == "0005"
        assert conn.execute(text("SELECT count(*) FROM share")).scalar_one() == 0
    settings = Settings(database_url=at_0004, base_url="http://testserver/fhir")
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["db", "upgrade"]) == 0
    with engine.connect() as conn:
        assert conn.execute(text(marker)).first() is None
        shared = conn.execute(
            text("SELECT org_sor, target_type, target_id FROM share ORDER BY target_type")
        ).all()
        assert shared == [(MUNICIPALITY, "CarePlan", "plan"), (MUNICIPALITY, "Patient", "p")]
    engine.dispose()


def test_0005_downgrades_to_0004(at_0004: str) -> None:
    _store_as_0004(at_0004)
    migrate(at_0004)
    from alembic import command
    from alembic.config import Config

    from tests.support.databases import ROOT

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = at_0004
    command.downgrade(config, "0004")
    engine = create_engine_sync(at_0004)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT res_pk, org_sor, kind FROM care_relation ORDER BY res_pk")
        ).all()
        assert rows == [(1, HOSPITAL, "author"), (2, HOSPITAL, "author")]
    engine.dispose()

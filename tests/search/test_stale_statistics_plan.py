"""A patient's page is read from an index in pk order, whatever the statistics say (#14 part 3).

Straight after a burst of writes, before any ANALYZE (autovacuum is off on the machines
this runs on), PostgreSQL takes a patient with 10,000 plans for one with a handful. The
subject search must still walk ix_search_reference_target_pk in pk order, check each
candidate with indexed probes and stop after LIMIT+1 matches: no Sort, no HashAggregate,
no bitmap scan that collects every plan of the patient. The statement EXPLAINed is the
one the repository runs (captured from the cursor), under the planner settings it sets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import Engine

from app.settings import Settings
from app.storage.engine import create_engine_sync
from app.storage.tables import metadata, resource, resource_version
from tests.access.world import load_world
from tests.support.tokens import HOSPITAL_SOR, TokenFactory, bearer

BURST = 10_000
PAGE = 20
DRIVER_INDEX = "ix_search_reference_target_pk"
# Every table holding rows of a resource version (outbox and job ledgers aside).
_CLONED = [t for t in metadata.sorted_tables if "res_pk" in t.c and t.name != "outbox"]


def _clone(conn: Connection, template_id: str, copies: int) -> None:
    """`copies` more versions like the template's current one, every row the indexer and
    the access index wrote for it included (the search rows, compartment, shares, plan
    links): a burst of writes in one statement per table, in seconds instead of the
    minutes the API takes for 10,000 plans. Ids are the template's plus `-n`."""
    template, top = conn.execute(
        text("SELECT (SELECT pk FROM resource WHERE res_id = :i), (SELECT max(pk) FROM resource)"),
        {"i": template_id},
    ).one()
    series = "generate_series(1, :n) AS g(n)"
    for table in [resource, resource_version, *(t for t in _CLONED if t is not resource_version)]:
        key = "pk" if table is resource else "res_pk"
        values = [
            ":top + g.n"
            if c.name == key
            else "res_id || '-' || g.n"
            if c.name == "res_id"
            else c.name
            for c in (c for c in table.c if c.name != "seq")
        ]
        columns = ", ".join(c.name for c in table.c if c.name != "seq")
        conn.execute(
            text(
                f"INSERT INTO {table.name} ({columns}) SELECT {', '.join(values)} "
                f"FROM {table.name}, {series} WHERE {key} = :t"
            ),
            {"top": top, "n": copies, "t": template},
        )
    sequence = "pg_get_serial_sequence('resource', 'pk')"
    conn.execute(text(f"SELECT setval({sequence}, (SELECT max(pk) FROM resource))"))


def _analyze(conn: Connection) -> None:
    """ANALYZE this schema's tables only (a bare ANALYZE takes every schema of the shared
    database, and its locks deadlock with other test sessions' TRUNCATE)."""
    conn.execute(text("ANALYZE " + ", ".join(t.name for t in metadata.sorted_tables)))


@contextmanager
def _statements() -> Iterator[list[tuple[str, Any]]]:
    """The statements (and parameters) sent to the database meanwhile."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _explain(engine: Engine, statements: list[tuple[str, Any]]) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the page-key statement, after the planner settings sent before it."""
    page = next(i for i, (s, _) in enumerate(statements) if "driver" in s and "LIMIT" in s)
    settings = [s for s, _ in statements[:page] if "set_config" in s]
    assert settings, "the driven page sets its planner settings"
    statement, parameters = statements[page]
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.execute(settings[-1])
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            (row,) = cursor.fetchall()
        raw.rollback()
    document = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return dict(document[0]["Plan"])


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _spine(plan: dict[str, Any]) -> list[str]:
    """The node types from the top down the outer side: the path the rows come up."""
    path = []
    node: dict[str, Any] | None = plan
    while node is not None:
        path.append(node["Node Type"])
        outer = [c for c in node.get("Plans", []) if c.get("Parent Relationship") == "Outer"]
        node = outer[0] if outer else None
    return path


def _assert_index_plan(plan: dict[str, Any]) -> None:
    nodes = list(_nodes(plan))
    kinds = {n["Node Type"] for n in nodes}
    assert not kinds & {"Sort", "Incremental Sort", "Bitmap Heap Scan", "Hash", "Merge Join"}, kinds
    assert not [n for n in nodes if n["Node Type"] == "Aggregate"], nodes
    (driver,) = [n for n in nodes if n.get("Index Name") == DRIVER_INDEX]
    assert driver["Node Type"] in ("Index Scan", "Index Only Scan")
    assert _spine(plan)[-1] == driver["Node Type"], _spine(plan)
    # The page reads LIMIT+1 candidates of the 10,001, not all of them.
    assert driver["Actual Rows"] * driver["Actual Loops"] <= PAGE + 1, driver
    assert plan["Actual Rows"] == PAGE + 1


def test_a_subject_page_walks_the_target_index_after_a_burst_without_analyze(
    app: FastAPI, settings: Settings, tokens: TokenFactory
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("about PostgreSQL's planner (SQLite has no statistics to go stale)")
    load_world(settings)
    engine = create_engine_sync(settings.database_url)
    try:
        with engine.begin() as conn:
            for table in metadata.sorted_tables:
                conn.execute(text(f"ALTER TABLE {table.name} SET (autovacuum_enabled = false)"))
            _analyze(conn)  # the world's statistics: a few plans per patient
        with engine.begin() as conn:
            _clone(conn, "lars-plan", BURST)
            # A patient whose plans lie behind the burst in pk order: a walk of another
            # pk-ordered index (or a merge join) would read the whole burst to reach them.
            _clone(conn, "gitte-plan", PAGE + 10)
        headers = bearer(tokens.system(sor=HOSPITAL_SOR, scopes="system/*.cruds"))
        with TestClient(app, base_url="http://testserver", headers=headers) as client:

            def search(patient: str) -> list[tuple[str, Any]]:
                with _statements() as statements:
                    response = client.get(
                        "/fhir/CarePlan",
                        params={"subject": f"Patient/{patient}", "_count": str(PAGE)},
                    )
                assert response.status_code == 200
                bundle = response.json()
                assert len(bundle["entry"]) == PAGE
                assert any(link["relation"] == "next" for link in bundle["link"])
                return statements

            stale = {p: _explain(engine, search(p)) for p in ("lars", "gitte")}
            with engine.begin() as conn:
                _analyze(conn)
            analyzed = {p: _explain(engine, search(p)) for p in ("lars", "gitte")}
            for plan in (*stale.values(), *analyzed.values()):
                _assert_index_plan(plan)
            spines = {tuple(_spine(plan)) for plan in (*stale.values(), *analyzed.values())}
            assert len(spines) == 1, spines
    finally:
        engine.dispose()

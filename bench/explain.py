"""EXPLAIN the typical searches exactly as the service runs them (docs/performance.md).

Serves the app in-process on a kept benchmark schema (`python -m bench --keep-schema`
prints it), takes the benchmark's system token from the development issuer, sends the
typical searches through the API, and prints `EXPLAIN (ANALYZE, BUFFERS)` of every SQL
statement that selected the searched resources, with the parameters it ran with:

    python -m bench.explain --schema bench_0123456789 [--database-url URL] [--output FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import event

from app.main import create_app
from app.settings import Settings
from bench.auth import DEV_CLAIMS
from bench.data import CPR, PLAN_TYPE
from bench.database import schema_url

BASE = "http://bench.invalid"
# The page-key query of a search selects from the shared alias `r` of `resource`.
SEARCHED_ROWS = "FROM resource AS r"


def _queries(cpr: str, kind: str, since: str, patient: str) -> dict[str, str]:
    return {
        "search-patient-plans": f"/fhir/CarePlan?patient.identifier={CPR}|{cpr}"
        f"&category={PLAN_TYPE}|{kind}&status=active",
        "search-delta": f"/fhir/CarePlan?category={PLAN_TYPE}|rehabilitation-plan"
        f"&_lastUpdated=gt{since}&_sort=_lastUpdated&_count=100",
        "search-condition": f"/fhir/Condition?patient={patient}",
        "search-patient": f"/fhir/Patient?identifier={CPR}|{cpr}",
    }


def _sample(url: str) -> tuple[str, str, str, str]:
    """A stored citizen (CPR, patient id, plan kind) with an active plan; a delta bound."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT p.res_id, t.code, c.code FROM search_token t "
            "JOIN resource p ON p.pk = t.res_pk "
            "JOIN search_reference s ON s.res_type = 'CarePlan' AND s.param = 'subject' "
            "  AND s.target_id = p.res_id "
            "JOIN search_token c ON c.res_pk = s.res_pk AND c.param = 'category' "
            "  AND c.system = %s "
            "WHERE t.res_type = 'Patient' AND t.param = 'identifier' AND t.system = %s "
            "ORDER BY t.res_pk DESC LIMIT 1",
            (PLAN_TYPE, CPR),
        ).fetchone()
        since = conn.execute(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY last_updated) FROM resource"
        ).fetchone()
    assert row is not None and since is not None, "the schema holds no benchmark data"
    return row[1], row[0], row[2], since[0].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def _captured(url: str, queries: dict[str, str]) -> dict[str, list[tuple[str, Any]]]:
    settings = Settings(database_url=url, base_url=f"{BASE}/fhir", env="development")
    app = create_app(settings)
    seen: dict[str, list[tuple[str, Any]]] = {}
    current: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        # Planner settings the search sets for its transaction are replayed in order.
        if SEARCHED_ROWS in statement or statement.startswith("SET LOCAL"):
            current.append((statement, parameters))

    async with app.router.lifespan_context(app):
        engine = app.state.service.storage.engine
        event.listen(engine.sync_engine, "before_cursor_execute", capture)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE
        ) as client:
            token = (await client.post("/auth/dev-token", json=DEV_CLAIMS)).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            for name, path in queries.items():
                current.clear()
                response = await client.get(path, headers=headers)
                response.raise_for_status()
                seen[name] = list(current)
    return seen


def explain(url: str) -> str:
    cpr, patient, kind, since = _sample(url)
    queries = _queries(cpr, kind, since, patient)
    out = []
    with psycopg.connect(url) as conn:
        counts = conn.execute("SELECT count(*) FROM resource").fetchone()
        out.append(f"resources in the schema (incl. AuditEvents): {counts[0] if counts else 0:,}\n")
        for name, statements in asyncio.run(_captured(url, queries)).items():
            out.append(f"## {name}: GET {queries[name]}\n")
            for statement, parameters in statements:
                if statement.startswith("SET LOCAL"):
                    conn.execute(statement)
                    continue
                plan = conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                ).fetchall()
                out.append(statement + "\n")
                out.append("\n".join(line for (line,) in plan) + "\n")
            conn.rollback()
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--schema", required=True, help="a benchmark schema kept with --keep-schema")
    p.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    p.add_argument("--output", type=Path, default=None)
    args = p.parse_args(argv)
    text = explain(schema_url(args.database_url, args.schema))
    if args.output:
        args.output.write_text(text, "utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

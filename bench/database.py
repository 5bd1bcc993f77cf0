"""A private PostgreSQL schema per run, migrated with the production command."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from bench.data import CPR, PLAN_TYPE, SOR
from bench.servers import ROOT

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
ADMIN_URL_ENV = "BENCH_POSTGRES_URL"


def admin_url() -> str:
    return os.environ.get(ADMIN_URL_ENV, DEFAULT_ADMIN_URL)


def schema_url(admin: str, schema: str) -> str:
    """The admin URL with `search_path` pinned to `schema` (libpq `options`)."""
    separator = "&" if "?" in admin else "?"
    return f"{admin}{separator}options={quote(f'-csearch_path={schema}')}"


def with_application_name(url: str, name: str) -> str:
    """`url` with libpq's `application_name`, which pg_stat_activity shows per backend."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}application_name={quote(name)}"


def create_schema(admin: str) -> str:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def drop_schema(admin: str, schema: str) -> None:
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def migrate(url: str, app_root: Path = ROOT) -> None:
    """`esp-careplans db upgrade` against `url`, as operators run it."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "upgrade"],
        env={**os.environ, "ESP_DATABASE_URL": url, "PYTHONPATH": str(app_root)},
        cwd=app_root,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"db upgrade failed:\n{done.stderr[-3000:]}")


def count_resources(url: str) -> dict[str, int]:
    """Current (not deleted) resources per type, and the floor's rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT res_type, count(*) FROM resource WHERE NOT deleted GROUP BY res_type"
        ).fetchall()
        floor = conn.execute("SELECT count(*) FROM floor_resource").fetchone()
    counts = {str(t): int(n) for t, n in rows}
    counts["_floor"] = int(floor[0]) if floor else 0
    return counts


def analyze(url: str) -> None:
    """Fresh planner statistics for the run's schema (autovacuum is off here; a bare
    ANALYZE would also analyse every other schema of the shared database)."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'ANALYZE "{table}"')


def floor_ids(url: str, limit: int = 2000) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id FROM floor_resource ORDER BY id LIMIT %s", (limit,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def database_facts(url: str) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        autovacuum = conn.execute("SHOW autovacuum").fetchone()
        size = conn.execute(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND c.relkind = 'r'"
        ).fetchone()
    return {
        "server_version": str(version[0] if version else ""),
        "autovacuum": str(autovacuum[0] if autovacuum else ""),
        "schema_size": str(size[0] if size else ""),
    }


def stored_sample(url: str, size: int, seed: str) -> dict[str, Any]:
    """What a reused schema's workloads draw from, rebuilt from the index tables: CarePlans
    with their citizen [cpr, patient id, kind, status, condition id, goal id], the stored
    organisations by SOR, and the time range the data was written in."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            SELECT cpr.code, subj.target_id, kind.code, status.code, cond.target_id,
                   goal.target_id, plan.res_id
            FROM resource plan
            JOIN search_reference subj ON subj.res_pk = plan.pk AND subj.param = 'subject'
            JOIN resource patient ON patient.res_type = 'Patient'
                 AND patient.res_id = subj.target_id
            JOIN search_token cpr ON cpr.res_pk = patient.pk AND cpr.param = 'identifier'
                 AND cpr.system = %(cpr)s
            JOIN search_token kind ON kind.res_pk = plan.pk AND kind.param = 'category'
                 AND kind.system = %(kind)s
            JOIN search_token status ON status.res_pk = plan.pk AND status.param = 'status'
            JOIN search_reference cond ON cond.res_pk = plan.pk AND cond.param = 'condition'
            JOIN search_reference goal ON goal.res_pk = plan.pk AND goal.param = 'goal'
            WHERE plan.res_type = 'CarePlan' AND NOT plan.deleted
              AND plan.pk %% 97 = %(bucket)s
            LIMIT %(size)s
            """,
            {"cpr": CPR, "kind": PLAN_TYPE, "size": size, "bucket": len(seed) % 97},
        ).fetchall()
        orgs = conn.execute(
            "SELECT t.code, r.res_id FROM search_token t JOIN resource r ON r.pk = t.res_pk "
            "WHERE t.res_type = 'Organization' AND t.param = 'identifier' AND t.system = %s",
            (SOR,),
        ).fetchall()
        span = conn.execute(
            "SELECT extract(epoch FROM min(last_updated)), extract(epoch FROM max(last_updated)) "
            "FROM resource WHERE res_type = 'CarePlan'"
        ).fetchone()
    assert span is not None and rows, "the schema holds no benchmark data"
    return {
        "citizens": [list(map(str, row[:6])) for row in rows],
        "plans": [str(row[6]) for row in rows],
        "orgs": {str(sor): str(rid) for sor, rid in orgs},
        "since": [float(span[0]), float(span[1])],
    }

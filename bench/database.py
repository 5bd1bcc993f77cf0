"""A private PostgreSQL schema per run, migrated with the production command."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg

from bench.servers import ROOT

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
ADMIN_URL_ENV = "BENCH_POSTGRES_URL"


def admin_url() -> str:
    return os.environ.get(ADMIN_URL_ENV, DEFAULT_ADMIN_URL)


def schema_url(admin: str, schema: str) -> str:
    """The admin URL with `search_path` pinned to `schema` (libpq `options`)."""
    separator = "&" if "?" in admin else "?"
    return f"{admin}{separator}options={quote(f'-csearch_path={schema}')}"


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
    """Fresh planner statistics after a bulk load (autovacuum may lag behind it)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def floor_ids(url: str, limit: int = 2000) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id FROM floor_resource ORDER BY id LIMIT %s", (limit,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def database_facts(url: str) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        size = conn.execute(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND c.relkind = 'r'"
        ).fetchone()
    return {
        "server_version": str(version[0] if version else ""),
        "schema_size": str(size[0] if size else ""),
    }

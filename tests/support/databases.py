"""Test databases: a fresh SQLite file and a private PostgreSQL schema per test run.

With CI=true an unreachable PostgreSQL fails the run; locally the PostgreSQL
half is skipped with a loud message.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.storage.engine import create_engine_sync
from app.storage.tables import metadata

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgres")


def postgres_admin_url() -> str:
    url = os.environ.get("ESP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_unavailable(reason: str) -> None:
    message = f"PostgreSQL at {postgres_admin_url()} is unreachable ({reason})"
    if in_ci():
        pytest.fail(f"{message}; CI=true requires PostgreSQL", pytrace=False)
    print(f"\n{'!' * 78}\n!! SKIPPING THE POSTGRESQL HALF: {message}\n{'!' * 78}")
    pytest.skip(message)


def migrate(url: str, revision: str = "head") -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    command.upgrade(config, revision)


def truncate_all(url: str) -> None:
    """Empty every data table (the schema and service settings stay)."""
    engine = create_engine_sync(url)
    tables = [t.name for t in reversed(metadata.sorted_tables) if t.name != "service_setting"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            conn.execute(text("PRAGMA defer_foreign_keys=ON"))
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
    engine.dispose()


def database_for(backend: str, tmp_dir: Path, revision: str = "head") -> Iterator[str]:
    """A database URL migrated to `revision` (empty) for one test session on `backend`."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_dir / 'esp-test.db'}"
        migrate(url, revision)
        yield url
        return
    admin_url = postgres_admin_url()
    schema = f"esp_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # driver errors of every kind mean "not reachable"
        postgres_unavailable(str(exc).splitlines()[0])
        return
    url = make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        migrate(rendered, revision)
        yield rendered
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

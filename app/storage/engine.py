"""Engines for the embedded default (SQLite) and production (PostgreSQL)."""

from __future__ import annotations

import os
import re
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.storage import pending

SQLITE_BUSY_TIMEOUT_MS = 30_000
_SEARCH_PATH = re.compile(r"-c\s*search_path=([^\s,]+)")


def _json_serializer(value: Any) -> str:
    return orjson.dumps(value).decode()


def normalise_url(url: str | URL, *, use_async: bool) -> URL:
    """Map `sqlite:`/`postgresql:` URLs onto the drivers we ship (aiosqlite, psycopg 3)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        driver = "aiosqlite" if use_async else "pysqlite"
    elif backend == "postgresql":
        driver = "psycopg"
    else:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed.set(drivername=f"{backend}+{driver}")


def _ensure_sqlite_directory(url: URL) -> None:
    if url.database and url.database != ":memory:":
        directory = os.path.dirname(url.database)
        if directory:
            os.makedirs(directory, exist_ok=True)


def application_name(url: URL) -> str:
    """`esp-careplans:<schema>`: what PostgreSQL shows for our connections, so the commit
    horizon (horizon.py) waits only for writers of this deployment (schema)."""
    options = url.query.get("options", "")
    found = _SEARCH_PATH.search(options if isinstance(options, str) else " ".join(options))
    return f"esp-careplans:{found.group(1) if found else 'public'}"[:63]


def _configure_sqlite(sync_engine: Engine) -> None:
    """WAL, a busy timeout, enforced foreign keys, and BEGIN IMMEDIATE for writes.

    pysqlite's own transaction handling is switched off so that a write
    transaction takes the write lock at BEGIN: otherwise two writers that both
    read first deadlock on lock upgrade instead of queueing on busy_timeout.
    """

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        write = connection.get_execution_options().get("esp_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_engine_async(url: str, *, pool_size: int = 10) -> AsyncEngine:
    parsed = normalise_url(url, use_async=True)
    kwargs: dict[str, Any] = {
        "json_serializer": _json_serializer,
        "json_deserializer": orjson.loads,
        # Bind parameters carry patient data: never in an exception text or a log line.
        "hide_parameters": True,
    }
    if parsed.get_backend_name() == "sqlite":
        _ensure_sqlite_directory(parsed)
        engine = create_async_engine(parsed, **kwargs)
        _configure_sqlite(engine.sync_engine)
    else:
        engine = create_async_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
            connect_args={"application_name": application_name(parsed)},
            **kwargs,
        )
    pending.install(engine)
    return engine


def create_engine_sync(url: str) -> Engine:
    """A synchronous engine, for Alembic."""
    parsed = normalise_url(url, use_async=False)
    if parsed.get_backend_name() == "sqlite":
        _ensure_sqlite_directory(parsed)
        engine = create_engine(parsed, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    return create_engine(
        parsed,
        hide_parameters=True,
        connect_args={"application_name": application_name(parsed)},
    )


def is_postgres(engine: AsyncEngine | Engine) -> bool:
    return engine.dialect.name == "postgresql"

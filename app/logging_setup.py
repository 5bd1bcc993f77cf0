"""Structured JSON logs with the request id; CPR numbers never reach a log line."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Ten digits, optionally DDMMYY-XXXX: anything that could be a CPR number.
_CPR = re.compile(r"(?<!\d)\d{6}-?\d{4}(?!\d)")
_DATABASE_MODULES = {"sqlalchemy", "psycopg", "psycopg2", "sqlite3", "aiosqlite", "asyncpg"}
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    return _CPR.sub("[redacted]", text)


def _is_database_error(exc: BaseException) -> bool:
    """SQLAlchemy's and the drivers' errors, whose messages quote data."""
    return type(exc).__module__.split(".")[0] in _DATABASE_MODULES


def _summary(exc: BaseException) -> str:
    """`Type: message`; for a database error only its type, SQLSTATE and statement.

    A driver's message quotes values: PostgreSQL's DETAIL (`Key (id)=(...) already
    exists`), CONTEXT (`JSON data, line 1: ...`) and cast errors name the data, and
    SQLAlchemy appends the bind parameters unless the engine hides them.
    """
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    if not _is_database_error(exc):
        return f"{name}: {exc}"
    orig = getattr(exc, "orig", None) or exc
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    statement = getattr(exc, "statement", None)
    parts = [
        name,
        f"(SQLSTATE {sqlstate})" if sqlstate else "",
        "[message withheld: it may quote data]",
    ]
    if statement:
        parts.append(f"[SQL: {' '.join(str(statement).split())[:500]}]")
    return " ".join(p for p in parts if p)


def format_exception(exc: BaseException | None) -> str:
    """The traceback of `exc` and its causes, database messages withheld."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    blocks = [
        "Traceback (most recent call last):\n"
        + "".join(traceback.format_tb(e.__traceback__))
        + _summary(e)
        for e in reversed(chain)
    ]
    return "\n\nThe above exception led to the following:\n\n".join(blocks)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": request_id_var.get(),
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["error"] = redact(format_exception(record.exc_info[1]))
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True

"""Server-side sessions in the `portal_session` table, shared by every worker process.

The cookie holds a random 256-bit id; the table holds only its SHA-256 (or HMAC with
ESP_SESSION_SECRET), so a copy of the table gives no usable cookie. The access tokens
never leave the server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = sa.MetaData()
portal_session = sa.Table(
    "portal_session",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)
# A login page visit gets a short anonymous session (CSRF token, OIDC state).
ANONYMOUS_MAX_AGE = 15 * 60


@dataclass
class Session:
    """One browser's session; `data` is JSON (tokens, CSRF token, children)."""

    sid: str
    expires_at: float
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def signed_in(self) -> bool:
        return bool(self.data.get("token"))

    @property
    def csrf(self) -> str:
        return str(self.data.get("csrf", ""))


def async_url(url: str) -> sa.URL:
    """The async driver for the service's database URL (aiosqlite or psycopg 3)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = {"sqlite": "aiosqlite", "postgresql": "psycopg"}.get(backend)
    if driver is None:
        raise ValueError(f"unsupported database {backend!r}")
    return parsed.set(drivername=f"{backend}+{driver}")


class SessionStore:
    """Create, load, save and delete sessions; expired ones are never loaded."""

    def __init__(self, database_url: str, secret: str = "", clock: Any = time.time) -> None:
        self._url = database_url
        self._secret = secret.encode()
        self._engine: AsyncEngine | None = None
        self._clock = clock

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_async_engine(async_url(self._url))
        return self._engine

    def _hash(self, sid: str) -> str:
        if self._secret:
            return hmac.new(self._secret, sid.encode(), hashlib.sha256).hexdigest()
        return hashlib.sha256(sid.encode()).hexdigest()

    async def create(self, data: dict[str, Any], max_age: int) -> Session:
        session = Session(secrets.token_urlsafe(32), self._clock() + max_age, dict(data))
        session.data.setdefault("csrf", secrets.token_urlsafe(32))
        async with self.engine.begin() as conn:
            await conn.execute(
                portal_session.delete().where(portal_session.c.expires_at < self._clock())
            )
            await conn.execute(
                portal_session.insert().values(
                    id_hash=self._hash(session.sid),
                    data=json.dumps(session.data),
                    expires_at=session.expires_at,
                )
            )
        return session

    async def load(self, sid: str | None) -> Session | None:
        if not sid or len(sid) > 128:
            return None
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(portal_session.c.data, portal_session.c.expires_at).where(
                        portal_session.c.id_hash == self._hash(sid)
                    )
                )
            ).first()
        if row is None or row.expires_at <= self._clock():
            return None
        return Session(sid, float(row.expires_at), json.loads(row.data))

    async def save(self, session: Session) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                portal_session.update()
                .where(portal_session.c.id_hash == self._hash(session.sid))
                .values(data=json.dumps(session.data), expires_at=session.expires_at)
            )

    async def delete(self, session: Session) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                portal_session.delete().where(portal_session.c.id_hash == self._hash(session.sid))
            )

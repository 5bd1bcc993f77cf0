"""SQL for the development issuer's authorization codes and refresh tokens (`oauth_grant`).

Each token is single use: `take` marks it used with one conditional UPDATE, so two
worker processes redeeming the same code cannot both win. Used rows stay until they
expire, so a replay is recognised (and its family revoked by the caller).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.storage.tables import oauth_grant

GrantKind = Literal["code", "refresh"]


@dataclass(frozen=True, slots=True)
class StoredGrant:
    family: str
    client_id: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Replayed:
    """The token exists but was already used: the caller revokes its family."""

    family: str


async def put_grant(
    conn: AsyncConnection,
    *,
    id_hash: str,
    kind: GrantKind,
    family: str,
    client_id: str,
    data: dict[str, Any],
    expires_at: float,
    now: float,
) -> None:
    """Store one token (by its hash) and drop rows that expired a day ago."""
    await conn.execute(delete(oauth_grant).where(oauth_grant.c.expires_at < now - 86_400))
    await conn.execute(
        insert(oauth_grant).values(
            id_hash=id_hash,
            kind=kind,
            family=family,
            client_id=client_id,
            data=json.dumps(data, separators=(",", ":")),
            expires_at=expires_at,
        )
    )


async def take_grant(
    conn: AsyncConnection, id_hash: str, kind: GrantKind, now: float
) -> StoredGrant | Replayed | None:
    """Mark the token used and return it; Replayed if it was used before; None if unknown."""
    taken = (
        await conn.execute(
            update(oauth_grant)
            .where(
                oauth_grant.c.id_hash == id_hash,
                oauth_grant.c.kind == kind,
                oauth_grant.c.used_at.is_(None),
                oauth_grant.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(oauth_grant.c.family, oauth_grant.c.client_id, oauth_grant.c.data)
        )
    ).first()
    if taken is not None:
        return StoredGrant(taken.family, taken.client_id, json.loads(taken.data))
    used = (
        await conn.execute(
            select(oauth_grant.c.family).where(
                oauth_grant.c.id_hash == id_hash,
                oauth_grant.c.kind == kind,
                oauth_grant.c.used_at.is_not(None),
            )
        )
    ).first()
    return Replayed(used.family) if used is not None else None


async def revoke_family(conn: AsyncConnection, family: str) -> None:
    """Make every unused token of one authorization unusable (kept to recognise replays)."""
    await conn.execute(
        update(oauth_grant)
        .where(oauth_grant.c.family == family, oauth_grant.c.used_at.is_(None))
        .values(used_at=0.0)
    )

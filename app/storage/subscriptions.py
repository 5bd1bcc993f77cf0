"""The outbox and each Subscription's delivery state (docs/events.md).

Every version written goes into the outbox in its own transaction, so nothing accepted is
ever missed. A Subscription's state row records whose access decides what it is notified
of (the owner's principal), how far it has got (a cursor in outbox order: last_updated,
then seq, never beyond the commit horizon), its retries, and which worker holds it (a
lease that expires, so a worker that dies is replaced by another).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.access.principal import Principal
from app.storage import leases, pending
from app.storage.tables import outbox, resource, subscription_state

# Types whose changes are not notified: subscriptions themselves, and the server's records.
NOT_NOTIFIED = frozenset({"Subscription", "AuditEvent"})


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    res_pk: int
    res_id: str
    owner: str
    principal: dict[str, str]
    resource_type: str
    status: str
    cursor_at: datetime
    cursor_seq: int
    events: int
    attempts: int
    first_failure_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    seq: int
    res_pk: int
    res_type: str
    res_id: str
    version_id: int
    last_updated: datetime

    @property
    def reference(self) -> str:
        return f"{self.res_type}/{self.res_id}/_history/{self.version_id}"


def record_version(
    conn: AsyncConnection, res_pk: int, res_type: str, res_id: str, version: int, stamp: datetime
) -> None:
    """Queue the outbox row of a version (it goes out with the version's own rows)."""
    if res_type in NOT_NOTIFIED:
        return
    pending.defer(
        conn,
        outbox,
        [
            {
                "res_pk": res_pk,
                "res_type": res_type,
                "res_id": res_id,
                "version_id": version,
                "last_updated": stamp,
            }
        ],
    )


async def write_state(
    conn: AsyncConnection,
    res_pk: int,
    content: dict[str, Any] | None,
    owner: Principal,
    stamp: datetime,
    *,
    fresh: bool,
) -> None:
    """Keep a Subscription's state in step with its current version.

    The first version fixes the owner (the writer) and the start of its events (its own
    stamp); later versions (the owner's, or the worker's status changes) keep both.
    """
    if content is None:
        await conn.execute(delete(subscription_state).where(subscription_state.c.res_pk == res_pk))
        return
    criteria = str(content.get("criteria", ""))
    values: dict[str, Any] = {
        "resource_type": criteria.partition("?")[0],
        "status": str(content.get("status", "requested")),
    }
    if fresh:
        await conn.execute(
            subscription_state.insert().values(
                res_pk=res_pk,
                owner=owner.owner_key,
                principal=owner.snapshot(),
                cursor_at=stamp,
                cursor_seq=0,
                events=0,
                attempts=0,
                **values,
            )
        )
        return
    if values["status"] == "requested":  # a new request starts over with its retries
        values |= {"attempts": 0, "first_failure_at": None, "next_attempt_at": None}
    await conn.execute(
        update(subscription_state).where(subscription_state.c.res_pk == res_pk).values(**values)
    )


class SubscriptionLedger:
    """The worker's view of subscription states and the outbox (internal jobs only)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def claim(
        self, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[SubscriptionState]:
        """Lease up to `limit` subscriptions that have work and that no live worker holds."""
        s = subscription_state
        pks = await leases.claim(
            self._conn,
            s,
            "res_pk",
            due=[
                s.c.status.in_(("requested", "active")),
                or_(s.c.next_attempt_at.is_(None), s.c.next_attempt_at <= now),
            ],
            order_by=[s.c.next_attempt_at.nulls_first(), s.c.res_pk],
            worker=worker,
            now=now,
            lease=lease,
            limit=limit,
        )
        return await self._states(pks)

    async def _states(self, pks: list[int]) -> list[SubscriptionState]:
        if not pks:
            return []
        s = subscription_state
        rows = await self._conn.execute(
            select(s, resource.c.res_id)
            .join(resource, resource.c.pk == s.c.res_pk)
            .where(s.c.res_pk.in_(pks))
            .order_by(s.c.res_pk)
        )
        return [
            SubscriptionState(
                row.res_pk,
                row.res_id,
                row.owner,
                dict(row.principal),
                row.resource_type,
                row.status,
                row.cursor_at,
                row.cursor_seq,
                row.events,
                row.attempts,
                row.first_failure_at,
            )
            for row in rows.all()
        ]

    async def events(
        self, state: SubscriptionState, horizon: datetime, limit: int
    ) -> list[OutboxEvent]:
        """The next changes of the subscription's type after its cursor, in order, none
        beyond the commit horizon (app/storage/horizon.py)."""
        o = outbox
        after = or_(
            o.c.last_updated > state.cursor_at,
            and_(o.c.last_updated == state.cursor_at, o.c.seq > state.cursor_seq),
        )
        rows = await self._conn.execute(
            select(o.c.seq, o.c.res_pk, o.c.res_type, o.c.res_id, o.c.version_id, o.c.last_updated)
            .where(o.c.res_type == state.resource_type, after, o.c.last_updated <= horizon)
            .order_by(o.c.last_updated, o.c.seq)
            .limit(limit)
        )
        return [OutboxEvent(*row) for row in rows.all()]

    async def advance(self, state: SubscriptionState, event: OutboxEvent, notified: bool) -> None:
        """Past `event` (delivered, or not one the owner may be told of)."""
        s = subscription_state
        values: dict[str, Any] = {"cursor_at": event.last_updated, "cursor_seq": event.seq}
        if notified:
            values |= {
                "events": s.c.events + 1,
                "attempts": 0,
                "first_failure_at": None,
                "next_attempt_at": None,
                "last_error": None,
            }
        await self._conn.execute(update(s).where(s.c.res_pk == state.res_pk).values(**values))

    async def succeeded(self, state: SubscriptionState) -> None:
        """A handshake went through: no retries pending."""
        s = subscription_state
        await self._conn.execute(
            update(s)
            .where(s.c.res_pk == state.res_pk)
            .values(attempts=0, first_failure_at=None, next_attempt_at=None, last_error=None)
        )

    async def failed(
        self, state: SubscriptionState, error: str, now: datetime, retry_at: datetime
    ) -> None:
        """One more failed attempt; the next is due at `retry_at`."""
        s = subscription_state
        await self._conn.execute(
            update(s)
            .where(s.c.res_pk == state.res_pk)
            .values(
                attempts=s.c.attempts + 1,
                first_failure_at=state.first_failure_at or now,
                next_attempt_at=retry_at,
                last_error=error[:1000],
            )
        )

    async def release(self, state: SubscriptionState, worker: str) -> None:
        await leases.release(self._conn, subscription_state, "res_pk", state.res_pk, worker)

    async def trim(self, before: datetime) -> int:
        """Forget outbox rows older than `before` that every live subscription has passed."""
        s, o = subscription_state, outbox
        behind_all = ~(
            select(s.c.res_pk)
            .where(
                s.c.status.in_(("requested", "active", "error")),
                s.c.cursor_at < o.c.last_updated,
            )
            .exists()
        )
        result = await self._conn.execute(delete(o).where(o.c.last_updated < before, behind_all))
        return int(result.rowcount or 0)

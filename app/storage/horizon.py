"""The commit horizon: which writes a delta reader may see without missing a later one.

A delta pull (`_sort=_lastUpdated`, the subscription outbox) walks rows in `last_updated`
order and the client continues from the last stamp it saw. That is only sound if no row
with an earlier stamp can still commit afterwards. Instead of a fixed settle delay, the
reader asks for the horizon: a stamp below which every write has committed.

- PostgreSQL: every write transaction takes its transaction id before its stamp
  (`writer_stamp`), so an in-flight writer is visible in `pg_stat_activity` with
  `backend_xid` set and a `xact_start` no later than any stamp it writes. The horizon is
  the earliest `xact_start` of the service's in-flight writers (or now). "The service's":
  connections carry `application_name` `esp-careplans:<schema>` (engine.py), so other
  applications and other schemas of the same database do not hold it back.
- SQLite: writers run one at a time under the write lock (BEGIN IMMEDIATE) and stamp
  after taking it, strictly later than every committed stamp, so stamps follow commit
  order; the horizon is the newest stamp the reader's snapshot holds.

`read_horizon` is inclusive: rows stamped at or before it are settled (docs/search.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.fhir.instant import now_utc, truncate_to_millis
from app.fhir.outcome import FhirError
from app.storage.tables import resource

_TICK = timedelta(milliseconds=1)
BEFORE_EVERYTHING = datetime(1970, 1, 1, tzinfo=UTC)

_PG_STAMP = text(
    "SELECT clock_timestamp() FROM (SELECT pg_current_xact_id() AS xid OFFSET 0) AS taken"
)
# The clock is read before the activity snapshot (the FROM subquery, kept apart by OFFSET
# 0, runs before the select list's sub-select): a writer missing from the snapshot took its
# transaction id after it, so its stamp is later than this clock. Read the other way round,
# a writer that stamped between the snapshot and the clock (a preempted reader under load)
# was passed by the horizon before it committed, and its row was missed.
_PG_HORIZON = text(
    "SELECT current_setting('track_activities')::boolean AS tracked,"
    " least(clock.now, (SELECT min(a.xact_start) FROM pg_stat_activity a"
    "  WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()"
    "  AND a.datname = current_database()"
    "  AND a.application_name = current_setting('application_name'))) AS horizon"
    " FROM (SELECT clock_timestamp() AS now OFFSET 0) AS clock"
)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def writer_stamp(conn: AsyncConnection) -> datetime:
    """The stamp of a write transaction, taken so that readers' horizons hold."""
    if conn.dialect.name == "postgresql":
        # The transaction id first, then the clock (OFFSET 0 keeps the order): from the
        # moment a stamp exists, the writer shows as in flight in pg_stat_activity.
        value = (await conn.execute(_PG_STAMP)).scalar_one()
        return truncate_to_millis(_as_utc(value))
    # SQLite: this first statement takes the write lock (BEGIN IMMEDIATE); stamps are
    # then strictly increasing in commit order.
    newest = (await conn.execute(select(func.max(resource.c.last_updated)))).scalar_one()
    stamp = truncate_to_millis(now_utc())
    return max(stamp, _as_utc(newest) + _TICK) if newest is not None else stamp


async def read_horizon(conn: AsyncConnection) -> datetime:
    """The newest stamp a delta reader may include: every row stamped at or before it has
    committed, and none stamped at or before it can commit later."""
    if conn.dialect.name == "postgresql":
        row = (await conn.execute(_PG_HORIZON)).one()
        if not row.tracked:
            raise FhirError.of(
                503,
                "transient",
                "Delta pulls need PostgreSQL's track_activities on (docs/search.md)",
            )
        return truncate_to_millis(_as_utc(row.horizon)) - _TICK
    # Nothing committed yet: a writer in flight may have stamped any time up to now, so the
    # horizon stays before everything (not "now").
    newest = (await conn.execute(select(func.max(resource.c.last_updated)))).scalar_one()
    return _as_utc(newest) if newest is not None else BEFORE_EVERYTHING

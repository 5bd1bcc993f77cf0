"""Writes the search-index rows and patient compartment of a resource's current version.

Called inside the resource's own transaction (PRINCIPLES 7), so the index never
describes a version that was not committed. The rows are queued (`pending.py`) and
written in bulk before the next statement that could read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.access.authorities import Authorities
from app.fhir.search.extract import extract_index
from app.fhir.validation import parse_reference
from app.storage import pending
from app.storage.access_index import WriteContext, write_access_rows
from app.storage.tables import (
    INDEX_TABLES,
    compartment,
    resource,
    resource_version,
    service_setting,
)

REINDEX_BATCH = 500


async def write_index(
    conn: AsyncConnection,
    res_pk: int,
    resource_type: str,
    resource_json: dict[str, Any] | None,
    *,
    replace: bool,
) -> set[str]:
    """Index `resource_json` as the current version of `res_pk`; returns its compartment.

    None = deleted: the search rows go, but the compartment stays, so whoever may
    see the patient's data still gets 410 Gone and the history, not 404.
    """
    if replace:
        for table in INDEX_TABLES.values():
            await conn.execute(delete(table).where(table.c.res_pk == res_pk))
    if resource_json is None:
        return set()
    if replace:
        await conn.execute(delete(compartment).where(compartment.c.res_pk == res_pk))
    rows = extract_index(resource_json)
    for kind, table_rows in rows.tables().items():
        pending.defer(
            conn,
            INDEX_TABLES[kind],
            [{**row, "res_pk": res_pk, "res_type": resource_type} for row in table_rows],
        )
    if resource_type == "Provenance":  # a reindex keeps it in its target's compartment
        (extra,) = await provenance_patients(conn, [resource_json])
        rows.compartment_patients |= extra
    pending.defer(
        conn,
        compartment,
        [{"res_pk": res_pk, "patient_id": p} for p in sorted(rows.compartment_patients)],
    )
    return set(rows.compartment_patients)


async def provenance_patients(
    conn: AsyncConnection,
    provenances: Sequence[dict[str, Any]],
    *,
    known: Mapping[tuple[str, str], frozenset[str]] | None = None,
) -> list[set[str]]:
    """Per Provenance, the patients of its targets: a Provenance is in the compartment of
    what it describes (it is read under its target's rules; storage/access_sql.py).

    `known`: the compartments of targets written in this transaction (not read again).
    """
    targets = [
        {ref for t in p.get("target") or [] if (ref := parse_reference(t.get("reference") or ""))}
        for p in provenances
    ]
    known = known or {}
    wanted = {ref for refs in targets for ref in refs} - known.keys()
    found: dict[tuple[str, str], set[str]] = {ref: set(known[ref]) for ref in known}
    ids = sorted({rid for _, rid in wanted})
    for start in range(0, len(ids), 500):
        query = (
            select(resource.c.res_type, resource.c.res_id, compartment.c.patient_id)
            .join(compartment, compartment.c.res_pk == resource.c.pk)
            .where(resource.c.res_id.in_(ids[start : start + 500]))
        )
        for rtype, rid, patient in (await conn.execute(query)).all():
            if (rtype, rid) in wanted:
                found.setdefault((rtype, rid), set()).add(patient)
    return [set().union(*(found.get(ref, set()) for ref in refs)) for refs in targets]


def write_index_many(
    conn: AsyncConnection, items: Iterable[tuple[int, str, dict[str, Any], frozenset[str]]]
) -> None:
    """Index new resources (no earlier rows): their rows join the queue (one COPY per table).

    Each item's last member: patients whose compartment it joins besides its own
    references' (a Provenance is in its target's compartment).
    """
    per_table: dict[str, list[dict[str, Any]]] = {kind: [] for kind in INDEX_TABLES}
    patients: list[dict[str, Any]] = []
    for res_pk, resource_type, resource_json, extra in items:
        rows = extract_index(resource_json)
        for kind, table_rows in rows.tables().items():
            per_table[kind].extend(
                {**row, "res_pk": res_pk, "res_type": resource_type} for row in table_rows
            )
        patients.extend(
            {"res_pk": res_pk, "patient_id": p} for p in sorted(rows.compartment_patients | extra)
        )
    for kind, table_rows in per_table.items():
        pending.defer(conn, INDEX_TABLES[kind], table_rows)
    pending.defer(conn, compartment, patients)


async def reindex(
    conn: AsyncConnection,
    authorities: Authorities,
    resource_types: Iterable[str] | None = None,
) -> int:
    """Rebuild every index and access row from the current versions; returns resources done.

    Access rows depend on the authority settings (a relation authority's records count
    only once it is listed), so this is also what to run after changing them.
    """
    wanted = list(resource_types) if resource_types is not None else None
    context = WriteContext(authorities, known_sors={})
    count, last_pk = 0, 0
    while True:
        query = (
            select(
                resource.c.pk,
                resource.c.res_type,
                resource.c.res_id,
                resource.c.deleted,
                resource.c.author_sor,
                resource_version.c.content,
            )
            .join(
                resource_version,
                (resource_version.c.res_pk == resource.c.pk)
                & (resource_version.c.version_id == resource.c.version_id),
            )
            .where(resource.c.pk > last_pk)
            .order_by(resource.c.pk)
            .limit(REINDEX_BATCH)
        )
        if wanted is not None:
            query = query.where(resource.c.res_type.in_(wanted))
        batch = (await conn.execute(query)).all()
        if not batch:
            await pending.flush_now(conn)
            return count
        for row in batch:
            content = None if row.deleted else row.content
            patients = await write_index(conn, row.pk, row.res_type, content, replace=True)
            await write_access_rows(
                conn, row.pk, row.res_id, content, patients, row.author_sor, context
            )
            count += 1
        last_pk = batch[-1][0]


# Left in service_setting by a migration that changed how access rows are derived
# (0005: treatment relations from evidence); `esp-careplans db upgrade` rebuilds them.
ACCESS_ROWS_STALE = "access_rows_stale"


async def access_rows_stale(conn: AsyncConnection) -> bool:
    query = select(service_setting.c.key).where(service_setting.c.key == ACCESS_ROWS_STALE)
    return (await conn.execute(query)).first() is not None


async def rebuild_if_stale(conn: AsyncConnection, authorities: Authorities) -> int | None:
    """Rebuild every index and access row if a migration asked for it; None if not."""
    if not await access_rows_stale(conn):
        return None
    count = await reindex(conn, authorities)
    await conn.execute(delete(service_setting).where(service_setting.c.key == ACCESS_ROWS_STALE))
    return count

"""The repository: versioned create/read/update/delete, history and search over one connection.

It runs inside a unit of work (see `unit_of_work.py`) that owns the transaction; the
repository only executes statements. It is built with the request's AccessPolicy and
compiles its security predicate from it once (`access_sql.Visibility`); its connection
is private, and every read it offers ANDs that predicate for the interaction's scope,
so no read path escapes authorization (PRINCIPLES.md, principle 3).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.access.policy import AccessPolicy
from app.access.quality_data import OutcomeCounts, OutcomeGrant, Quarter, outcome_grant
from app.fhir.audit_event import RESOURCE_TYPE as AUDIT_EVENT
from app.fhir.audit_event import AuditEntry
from app.fhir.instant import format_instant, now_utc
from app.fhir.outcome import FhirError
from app.fhir.profiles.canonical import SOR_SYSTEM
from app.fhir.resource_types import STORED_TYPES
from app.fhir.search.model import SearchRequest
from app.storage import audit_log, exports, indexer, outcomes, pending, statements, subscriptions
from app.storage.access_facts import compartments, current_versions, patient_for_cpr
from app.storage.access_index import WriteContext, write_access_rows
from app.storage.access_sql import Visibility
from app.storage.horizon import read_horizon
from app.storage.records import SecurityPredicate, StoredResource
from app.storage.search_sql import SearchPage, find_matches, run_search
from app.storage.statements import by_id
from app.storage.tables import resource, resource_version, search_token

log = logging.getLogger("esp.storage")


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Parameters of a history interaction (R4 http.html#history)."""

    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    at: datetime | None = None
    count: int = 50
    # Keyset position: (last_updated, res_pk, version_id) of the last entry seen.
    after: tuple[datetime, int, int] | None = None

    @property
    def interaction(self) -> str:
        """Instance history needs `r`, type and system history `s` (SMART v2)."""
        if self.resource_id is not None:
            return "history-instance"
        return "history-type" if self.resource_type is not None else "history-system"


@dataclass(frozen=True, slots=True)
class SearchLimits:
    """The service-wide limits a search runs under (passed as a value, not a service)."""

    default_count: int = 50
    max_count: int = 1000
    max_includes: int = 1000


def criteria_key(resource_type: str, criteria: Sequence[tuple[str, str]]) -> str:
    """The normalised form of conditional-interaction criteria (what the lock is taken on)."""
    return resource_type + "?" + "&".join(f"{k}={v}" for k, v in sorted(criteria))


def _new_id() -> str:
    return str(uuid.uuid4())


def with_meta(
    content: dict[str, Any], resource_id: str, version: int, stamp: datetime
) -> dict[str, Any]:
    """A copy of `content` with the server-owned id, meta.versionId and meta.lastUpdated."""
    result = {"resourceType": content["resourceType"], "id": resource_id}
    meta = dict(content.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = format_instant(stamp)
    result["meta"] = meta
    for key, value in content.items():
        if key not in ("resourceType", "id", "meta"):
            result[key] = value
    return result


class Repository:
    """Versioned resource storage bound to one connection, one transaction and one policy."""

    def __init__(
        self,
        conn: AsyncConnection,
        *,
        policy: AccessPolicy,
        stamp: datetime,
        base_url: str,
        clock: Callable[[], Awaitable[datetime]] | None = None,
    ) -> None:
        self._conn = conn
        self.policy = policy
        self._visibility = Visibility(policy, dialect=conn.dialect.name, base_url=base_url)
        self.stamp = stamp
        self._clock = clock
        self.base_url = base_url
        self.written: list[StoredResource] = []
        self._write_context = WriteContext(policy.authorities, known_sors={})
        self._after_commit: list[Callable[[], Awaitable[None]]] = []
        self._postgres = conn.dialect.name == "postgresql"
        # The patient compartment of each version written in this transaction, exactly as
        # its index rows hold it: the Provenance and audit records of the same request ask
        # for it, and a SELECT would first flush the queued rows (a round trip each).
        self._written_compartments = WrittenCompartments()

    # -- reads ---------------------------------------------------------------

    def _condition(self, resource_type: str, interaction: str) -> ColumnElement[bool]:
        """The security predicate on `resource` rows of this type (statements.py keys on it)."""
        return self._visibility.predicate(interaction)(resource_type, resource)

    def _audit_condition(self, interaction: str) -> audit_log.AuditCondition:
        """The caller's condition on audit log rows (AuditEvents) for `interaction`."""
        return lambda a: self._visibility.audit_condition(interaction, a)

    async def _find_audit(self, audit_id: str, interaction: str) -> StoredResource | None:
        """The AuditEvent `audit_id` if the caller may see it for `interaction`."""
        return await audit_log.find(self._conn, audit_id, self._audit_condition(interaction))

    def _security(self, interaction: str) -> SecurityPredicate:
        """The predicate this repository applies for `interaction` (for its own searches)."""
        return self._visibility.predicate(interaction)

    async def read(
        self,
        resource_type: str,
        resource_id: str,
        *,
        interaction: str = "read",
        deleted_ok: bool = False,
    ) -> StoredResource:
        """The current version; 404 when absent or not visible, 410 when deleted.

        `interaction`: a write reads the current version under its own scope letter.
        `deleted_ok`: return a deletion (content None) instead of answering 410.
        """
        if resource_type == AUDIT_EVENT:  # never deleted
            found = await self._find_audit(resource_id, interaction)
            if found is None:
                raise FhirError.of(404, "not-found", f"{resource_type}/{resource_id} is not known")
            return found
        query = statements.current(self._condition(resource_type, interaction))
        row = (await self._conn.execute(query, by_id(resource_type, resource_id))).first()
        if row is None:
            raise FhirError.of(404, "not-found", f"{resource_type}/{resource_id} is not known")
        stored = self._stored(resource_type, resource_id, row)
        if stored.deleted and not deleted_ok:
            raise _gone(stored)
        return stored

    async def read_many(
        self, references: Sequence[tuple[str, str]], *, interaction: str = "read"
    ) -> dict[tuple[str, str], StoredResource]:
        """The current versions of these (type, id)s that the caller may see, in one
        statement; as `read` would answer each in turn: what is absent or not visible is
        left out, and the first deleted one (in the given order) answers 410."""
        wanted: dict[str, list[str]] = {}
        for resource_type, resource_id in references:
            wanted.setdefault(resource_type, []).append(resource_id)
        audited: dict[tuple[str, str], StoredResource] = {}
        for audit_id in wanted.pop(AUDIT_EVENT, []):  # never deleted
            if (event := await self._find_audit(audit_id, interaction)) is not None:
                audited[(AUDIT_EVENT, audit_id)] = event
        if not wanted:
            return audited
        types = sorted(wanted)
        query = statements.current_many(tuple(self._condition(t, interaction) for t in types))
        params: dict[str, Any] = {}
        for i, resource_type in enumerate(types):
            params[f"esp_type_{i}"] = resource_type
            params[f"esp_ids_{i}"] = sorted(set(wanted[resource_type]))
        rows = (await self._conn.execute(query, params)).all()
        found = {(r.res_type, r.res_id): self._stored(r.res_type, r.res_id, r) for r in rows}
        found.update(audited)
        for reference in references:
            stored = found.get(reference)
            if stored is not None and stored.deleted:
                raise _gone(stored)
        return found

    async def vread(self, resource_type: str, resource_id: str, version: int) -> StoredResource:
        if resource_type == AUDIT_EVENT:  # one version, never deleted
            found = await self._find_audit(resource_id, "vread")
            if found is not None and version == 1:
                return found
            raise FhirError.of(
                404, "not-found", f"{resource_type}/{resource_id}/_history/{version} is not known"
            )
        query = statements.version(self._condition(resource_type, "vread"))
        params = by_id(resource_type, resource_id, esp_version=version)
        row = (await self._conn.execute(query, params)).first()
        if row is None:
            raise FhirError.of(
                404, "not-found", f"{resource_type}/{resource_id}/_history/{version} is not known"
            )
        stored = self._stored(resource_type, resource_id, row)
        if stored.deleted:
            raise FhirError.of(
                410, "deleted", f"{resource_type}/{resource_id}/_history/{version} is a deletion"
            )
        return stored

    async def history(self, query: HistoryQuery) -> list[StoredResource]:
        """Versions newest first, at most `query.count + 1` (the extra one signals a next page)."""
        if query.resource_type == AUDIT_EVENT:
            return await self._audit_history(query)
        versions = await self._resource_history(query)
        if query.resource_type is not None:
            return versions
        # System history: the audit log's entries merged in, in the same order
        # (newest first, then by pk: an AuditEvent's pk is negative, so first at a tie).
        merged = [*versions, *await self._audit_history(query)]
        merged.sort(key=lambda s: (-s.last_updated.timestamp(), s.pk, -s.version_id))
        return merged[: query.count + 1]

    async def _audit_history(self, query: HistoryQuery) -> list[StoredResource]:
        return await audit_log.history(
            self._conn,
            self._audit_condition(query.interaction),
            audit_id=query.resource_id,
            since=query.since,
            at=query.at,
            after=query.after,
            limit=query.count + 1,
        )

    async def _resource_history(self, query: HistoryQuery) -> list[StoredResource]:
        v = resource_version
        statement = select(
            v.c.res_pk,
            v.c.res_type,
            v.c.res_id,
            v.c.version_id,
            v.c.last_updated,
            v.c.deleted,
            v.c.content,
            v.c.method,
        ).join(resource, resource.c.pk == v.c.res_pk)
        security = self._security(query.interaction)
        if query.resource_type is not None:
            statement = statement.where(v.c.res_type == query.resource_type)
            statement = statement.where(security(query.resource_type, resource))
        else:
            # System-level history: each row is checked by its own type's predicate.
            statement = statement.where(
                or_(
                    *(
                        and_(v.c.res_type == t, security(t, resource))
                        for t in sorted(STORED_TYPES - {AUDIT_EVENT})
                    )
                )
            )
        if query.resource_id is not None:
            statement = statement.where(v.c.res_id == query.resource_id)
        if query.since is not None:
            statement = statement.where(v.c.last_updated >= query.since)
        if query.at is not None:
            later = v.alias("later")
            statement = statement.where(
                v.c.last_updated <= query.at,
                ~select(literal_column("1"))
                .where(
                    later.c.res_pk == v.c.res_pk,
                    later.c.version_id > v.c.version_id,
                    later.c.last_updated <= query.at,
                )
                .exists(),
            )
        if query.after is not None:
            stamp, pk, version = query.after
            statement = statement.where(
                (v.c.last_updated < stamp)
                | and_(v.c.last_updated == stamp, v.c.res_pk > pk)
                | and_(v.c.last_updated == stamp, v.c.res_pk == pk, v.c.version_id < version)
            )
        statement = statement.order_by(
            v.c.last_updated.desc(), v.c.res_pk.asc(), v.c.version_id.desc()
        ).limit(query.count + 1)
        rows = (await self._conn.execute(statement)).all()
        return [
            StoredResource(
                row.res_type,
                row.res_id,
                row.version_id,
                row.last_updated,
                row.deleted,
                row.content,
                row.method,
                row.res_pk,
            )
            for row in rows
        ]

    async def exists_visible(
        self, resource_type: str, resource_id: str, *, interaction: str = "read"
    ) -> bool:
        if resource_type == AUDIT_EVENT:
            return await self._find_audit(resource_id, interaction) is not None
        query = statements.head(self._condition(resource_type, interaction))
        return (
            await self._conn.execute(query, by_id(resource_type, resource_id))
        ).first() is not None

    async def search(
        self,
        request: SearchRequest,
        *,
        cursor: str | None,
        cursor_key: bytes,
        limits: SearchLimits,
        interaction: str = "search",
    ) -> SearchPage:
        """One page of a search; matches, includes, chains and totals under the predicate.

        `interaction`: the scope letter the rows are read under (`read` for $everything).
        """
        condition = self._audit_condition(interaction)
        if request.resource_types == (AUDIT_EVENT,):
            return await audit_log.search(
                self._conn,
                request,
                condition,
                security=self._security(interaction),
                cursor_key=cursor_key,
                cursor=cursor,
                max_includes=limits.max_includes,
            )
        audited = AUDIT_EVENT in request.resource_types
        return await run_search(
            self._conn,
            request,
            security=self._security(interaction),
            cursor_key=cursor_key,
            cursor=cursor,
            max_includes=limits.max_includes,
            other=audit_log.alongside(request, condition) if audited else None,
        )

    async def find(
        self,
        resource_type: str,
        criteria: Sequence[tuple[str, str]],
        *,
        interaction: str,
        limit: int = 2,
    ) -> list[tuple[int, str]]:
        """What conditional-interaction criteria match, among what the caller may see for
        `interaction`: [(pk, id)], at most `limit`. A match the caller may not see is no
        match (R4 http.html#cond-update; docs/authorization.md)."""
        return await find_matches(
            self._conn,
            resource_type,
            criteria,
            security=self._security(interaction),
            base_url=self.base_url,
            limit=limit,
        )

    async def patient_for_cpr(self, cpr: str) -> tuple[int, str] | None:
        """(pk, id) of the Patient holding this CPR number, visible or not.

        The one lookup that ignores visibility, by design: a registered writer may learn
        the id of a CPR's Patient to reference it, never its content (a conditional create
        by CPR answers with the id only; it is audited in the citizen's MinLog).
        """
        return await patient_for_cpr(self._conn, cpr)

    async def rehabilitation_outcomes(
        self, quarters: Sequence[Quarter]
    ) -> tuple[OutcomeGrant, dict[Quarter, OutcomeCounts]]:
        """The quality-data aggregate of the caller's own plans: counts only, never rows.

        The grant is decided here from this repository's own policy (AccessDenied for
        anyone but a municipality with an unrestricted CarePlan search scope); the
        municipality's plans are read under its security predicate for a search. The
        later hospital plans it counts are docs/quality-data.md's named exception.
        """
        grant = outcome_grant(self.policy.principal)
        counts = await outcomes.rehabilitation_outcomes(
            self._conn, grant, self._security("search-type"), quarters, now_utc()
        )
        return grant, counts

    async def lock_criteria(self, resource_type: str, criteria: Sequence[tuple[str, str]]) -> None:
        """Serialise conditional interactions with the same criteria across app nodes.

        A transaction-scoped PostgreSQL advisory lock on the normalised criteria makes
        "search, then create if none" atomic (R4 http.html#ccreate). SQLite needs no
        lock: its write transactions already run one at a time (BEGIN IMMEDIATE).
        """
        if not self._postgres:
            return
        # Advisory locks are per database: the schema is part of the key, so deployments
        # (or test runs) in different schemas of one database never wait for each other.
        await self._conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || :key, 0))"),
            {"key": criteria_key(resource_type, criteria)},
        )

    # -- writes --------------------------------------------------------------

    async def create(
        self,
        content: dict[str, Any],
        *,
        resource_id: str | None = None,
        method: str = "POST",
    ) -> StoredResource:
        """Insert version 1 under a new id (or `resource_id`); 409 if that id exists.

        The author is the writing organisation (from the token, never from the body).
        """
        resource_type = content["resourceType"]
        resource_id = resource_id or _new_id()
        author = self.policy.author_sor
        pk = await self._insert_head(resource_type, resource_id, author)
        if pk is None:
            raise FhirError.of(409, "duplicate", f"{resource_type}/{resource_id} already exists")
        return await self._write_version(pk, resource_type, resource_id, 1, content, method, author)

    async def create_server_records(self, contents: Sequence[dict[str, Any]]) -> None:
        """Insert server-written resources (Provenances) in a few statements.

        AuditEvents are not resources here: they are rows of the audit log (`record_audit`).

        They are new, never updated, and establish no treatment relation, so the
        per-resource path (head, version, index, relations one by one) is not needed.
        A Provenance joins its targets' patient compartment.
        """
        if not contents:
            return
        provenances = [c for c in contents if c["resourceType"] == "Provenance"]
        targets_of = iter(
            await indexer.provenance_patients(
                self._conn, provenances, known=self._written_compartments.by_reference
            )
        )
        extra = [next(targets_of) if c["resourceType"] == "Provenance" else set() for c in contents]
        heads = [
            {
                "res_type": c["resourceType"],
                "res_id": _new_id(),
                "version_id": 1,
                "last_updated": self.stamp,
                "deleted": False,
            }
            for c in contents
        ]
        inserted = await self._conn.execute(
            resource.insert().returning(resource.c.pk, sort_by_parameter_order=True), heads
        )
        pks = [row.pk for row in inserted.all()]
        versions = []
        indexed = []
        for pk, head, content, more in zip(pks, heads, contents, extra, strict=True):
            stored = with_meta(content, head["res_id"], 1, self.stamp)
            versions.append(
                {
                    "res_pk": pk,
                    "version_id": 1,
                    "prev_version": None,
                    "res_type": head["res_type"],
                    "res_id": head["res_id"],
                    "last_updated": self.stamp,
                    "method": "POST",
                    "deleted": False,
                    "content": stored,
                    "author_sor": None,
                }
            )
            indexed.append((pk, head["res_type"], stored, frozenset(more)))
        pending.defer(self._conn, resource_version, versions)
        indexer.write_index_many(self._conn, indexed)

    async def update(
        self,
        content: dict[str, Any],
        resource_id: str,
        *,
        if_match: int | None = None,
        method: str = "PUT",
        allow_create: bool = True,
    ) -> tuple[StoredResource, bool]:
        """Write the next version (update-as-create when absent). Returns (stored, created)."""
        resource_type = content["resourceType"]
        for _attempt in range(3):
            head = await self._lock_head(resource_type, resource_id)
            if head is None:
                if if_match is not None:
                    raise FhirError.of(
                        412,
                        "conflict",
                        f"If-Match given but {resource_type}/{resource_id} does not exist",
                    )
                if not allow_create:
                    raise FhirError.of(
                        404, "not-found", f"{resource_type}/{resource_id} is not known"
                    )
                author = self.policy.author_sor
                pk = await self._insert_head(resource_type, resource_id, author)
                if pk is None:
                    continue  # created concurrently: update it instead
                created = await self._write_version(
                    pk, resource_type, resource_id, 1, content, method, author
                )
                return created, True
            self._check_if_match(resource_type, resource_id, head.version, if_match)
            stored = await self._next_version(head, resource_type, resource_id, content, method)
            if stored is not None:
                return stored, False
        raise FhirError.of(
            409, "conflict", f"{resource_type}/{resource_id} is being changed concurrently; retry"
        )

    async def delete(
        self, resource_type: str, resource_id: str, *, if_match: int | None = None
    ) -> StoredResource | None:
        """Logical delete: a new version marked deleted. None when nothing was there."""
        for _attempt in range(3):
            head = await self._lock_head(resource_type, resource_id)
            if head is None:
                return None
            self._check_if_match(resource_type, resource_id, head.version, if_match)
            if head.deleted:
                return None
            stored = await self._next_version(head, resource_type, resource_id, None, "DELETE")
            if stored is not None:
                return stored
        raise FhirError.of(
            409, "conflict", f"{resource_type}/{resource_id} is being changed concurrently; retry"
        )

    def take_written(self) -> list[StoredResource]:
        """The versions written since the last call (each gets its Provenance once)."""
        written, self.written = self.written, []
        return written

    async def hidden_pk(self, resource_type: str, resource_id: str) -> int | None:
        """The pk of a resource whether or not the caller may see it.

        Only to audit a refusal in the patient's MinLog; the caller is answered exactly as
        if the resource did not exist.
        """
        if resource_type == AUDIT_EVENT:
            found = await audit_log.find(self._conn, resource_id, None)
            return None if found is None else found.pk
        found_pk = await self._conn.execute(statements.HIDDEN_PK, by_id(resource_type, resource_id))
        pk: int | None = found_pk.scalar_one_or_none()
        return pk

    async def current_head(
        self, resource_type: str, resource_id: str, *, interaction: str = "read"
    ) -> tuple[int, int, bool] | None:
        """(pk, version, deleted) of the visible current version, without content."""
        if resource_type == AUDIT_EVENT:
            found = await self._find_audit(resource_id, interaction)
            return None if found is None else (found.pk, 1, False)
        query = statements.head(self._condition(resource_type, interaction))
        row = (await self._conn.execute(query, by_id(resource_type, resource_id))).first()
        return None if row is None else (row.pk, row.version_id, row.deleted)

    async def commit_horizon(self) -> datetime:
        """The newest stamp below which every write has committed (horizon.py)."""
        return await read_horizon(self._conn)

    @property
    def subscription_ledger(self) -> subscriptions.SubscriptionLedger:
        """The outbox and subscription states, for the delivery worker (an internal job)."""
        if not self.policy.principal.is_internal:
            raise PermissionError("only an internal job works the subscription ledger")
        return subscriptions.SubscriptionLedger(self._conn)

    @property
    def export_ledger(self) -> exports.ExportLedger:
        """Bulk export jobs (docs/bulk.md): an internal job's bookkeeping, never data."""
        if not self.policy.principal.is_internal:
            raise PermissionError("only an internal job works the export ledger")
        return exports.ExportLedger(self._conn)

    # -- work that must follow the commit ---------------------------------------------

    def after_commit(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` once this unit of work has committed (never after a rollback), e.g. to
        wake a delivery worker. It cannot undo the commit: a failure is logged, not raised."""
        self._after_commit.append(work)

    async def run_after_commit(self) -> None:
        """Called by the unit of work after a successful commit."""
        work, self._after_commit = self._after_commit, []
        for item in work:
            try:
                await item()
            except Exception:  # the data is committed; the client must not see a failure
                log.exception("after-commit work failed")

    # -- facts the audit trail needs ---------------------------------------------

    async def compartments(self, pks: Iterable[int]) -> dict[int, set[str]]:
        """The patients of resources this request touched (for their AuditEvents); the
        negative pks are AuditEvents (audit_log.py)."""
        touched = list(pks)
        wanted = {pk for pk in touched if pk > 0}
        audited = [pk for pk in touched if pk < 0]
        known = self._written_compartments.by_pk
        found = {pk: set(known[pk]) for pk in wanted & known.keys() if known[pk]}
        found.update(await compartments(self._conn, wanted - known.keys()))
        if audited:
            found.update(await audit_log.compartments(self._conn, audited))
        return found

    def record_audit(self, entries: Sequence[AuditEntry]) -> list[str]:
        """Append audit log entries (AuditEvents) in this transaction: one row each,
        written with the transaction's other rows before it commits. Their ids."""
        return audit_log.write(self._conn, entries)

    async def organization_name(self, sor: str) -> str | None:
        """The name of the Organization with this SOR code (for AuditEvent agents)."""
        token = select(search_token.c.res_pk).where(
            search_token.c.res_type == "Organization",
            search_token.c.param == "identifier",
            search_token.c.code == sor,
            search_token.c.system == SOR_SYSTEM,
        )
        query = current_versions(resource.c.res_type == "Organization", resource.c.pk.in_(token))
        row = (await self._conn.execute(query.limit(1))).first()
        name = row.content.get("name") if row else None
        return name if isinstance(name, str) else None

    # -- internals -----------------------------------------------------------

    @staticmethod
    def _check_if_match(
        resource_type: str, resource_id: str, version: int, if_match: int | None
    ) -> None:
        if if_match is not None and if_match != version:
            raise FhirError.of(
                412,
                "conflict",
                f"If-Match version {if_match} is stale: "
                f"{resource_type}/{resource_id} is at version {version}",
            )

    async def _lock_head(self, resource_type: str, resource_id: str) -> _Head | None:
        """Lock the head row (PostgreSQL); keep our stamp after its last version's stamp."""
        query = statements.lock_head(self._postgres)
        row = (await self._conn.execute(query, by_id(resource_type, resource_id))).first()
        if row is None:
            return None
        if row.last_updated >= self.stamp:
            # We waited for a writer that stamped later than we did: versions must not
            # go back in time, so take a fresh stamp (that writer has committed by now).
            fresh = await self._clock() if self._clock else self.stamp
            self.stamp = max(fresh, row.last_updated + timedelta(milliseconds=1))
        return _Head(row.pk, row.version_id, row.deleted, row.author_sor)

    async def _insert_head(
        self, resource_type: str, resource_id: str, author_sor: str | None
    ) -> int | None:
        values = {
            "res_type": resource_type,
            "res_id": resource_id,
            "version_id": 1,
            "last_updated": self.stamp,
            "deleted": False,
            "author_sor": author_sor,
        }
        inserted = await self._conn.execute(statements.insert_head(self._postgres), values)
        pk: int | None = inserted.scalar_one_or_none()
        return pk

    async def _next_version(
        self,
        head: _Head,
        resource_type: str,
        resource_id: str,
        content: dict[str, Any] | None,
        method: str,
    ) -> StoredResource | None:
        """Move the head from its version to the next; None if someone else moved it."""
        moved = await self._conn.execute(
            statements.MOVE_HEAD,
            {
                "esp_pk": head.pk,
                "esp_from": head.version,
                "esp_to": head.version + 1,
                "esp_stamp": self.stamp,
                "esp_deleted": content is None,
            },
        )
        if moved.rowcount != 1:
            return None
        return await self._write_version(
            head.pk, resource_type, resource_id, head.version + 1, content, method, head.author_sor
        )

    async def _write_version(
        self,
        pk: int,
        resource_type: str,
        resource_id: str,
        version: int,
        content: dict[str, Any] | None,
        method: str,
        author_sor: str | None,
    ) -> StoredResource:
        """Store one version and rewrite its index and access rows.

        `author_sor`: the organisation that created the resource (its access rows follow
        it); the version itself records who wrote it.
        """
        stored_content = (
            None if content is None else with_meta(content, resource_id, version, self.stamp)
        )
        pending.defer(
            self._conn,
            resource_version,
            [
                {
                    "res_pk": pk,
                    "version_id": version,
                    "prev_version": None if version == 1 else version - 1,
                    "res_type": resource_type,
                    "res_id": resource_id,
                    "last_updated": self.stamp,
                    "method": method,
                    "deleted": content is None,
                    "content": stored_content,
                    "author_sor": self.policy.author_sor,
                }
            ],
        )
        patients = await indexer.write_index(
            self._conn, pk, resource_type, stored_content, replace=version > 1
        )
        self._written_compartments.record(
            pk, resource_type, resource_id, None if stored_content is None else patients
        )
        if stored_content is not None:
            subscriptions.record_version(
                self._conn, pk, resource_type, resource_id, version, self.stamp
            )
        if resource_type == "Subscription":
            await subscriptions.write_state(
                self._conn,
                pk,
                stored_content,
                self.policy.principal,
                self.stamp,
                fresh=version == 1,
            )
        if resource_type == "Organization":
            self._write_context.known_sors.pop(resource_id, None)  # its SOR may have changed
        await write_access_rows(
            self._conn,
            pk,
            resource_id,
            stored_content,
            patients,
            author_sor,
            self._write_context,
            fresh=version == 1,
        )
        stored = StoredResource(
            resource_type,
            resource_id,
            version,
            self.stamp,
            content is None,
            stored_content,
            method,
            pk,
            author_sor,
        )
        self.written.append(stored)
        return stored

    @staticmethod
    def _stored(resource_type: str, resource_id: str, row: Row[Any]) -> StoredResource:
        return StoredResource(
            resource_type,
            resource_id,
            row.version_id,
            row.last_updated,
            row.deleted,
            row.content,
            row.method,
            row.pk,
            row.author_sor,
        )


def _gone(stored: StoredResource) -> FhirError:
    return FhirError.of(
        410, "deleted", f"{stored.reference} was deleted", headers={"ETag": stored.etag}
    )


@dataclass(slots=True)
class WrittenCompartments:
    """The compartments of the versions one transaction wrote (what its index rows say)."""

    by_pk: dict[int, frozenset[str]] = field(default_factory=dict)
    by_reference: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def record(
        self, pk: int, resource_type: str, resource_id: str, patients: set[str] | None
    ) -> None:
        """`patients` None: a deletion keeps its earlier compartment rows, so it is not known
        here (and a later question reads the rows)."""
        if patients is None:
            self.by_pk.pop(pk, None)
            self.by_reference.pop((resource_type, resource_id), None)
        else:
            self.by_pk[pk] = self.by_reference[(resource_type, resource_id)] = frozenset(patients)


@dataclass(frozen=True, slots=True)
class _Head:
    """The locked current pointer of a resource."""

    pk: int
    version: int
    deleted: bool
    author_sor: str | None

"""The repository's hot statements, built once with bind parameters.

Building a SELECT (column comparisons, coercions) and generating its cache key cost
more than running it against an index: a read by id spent most of its storage time
there. SQLAlchemy memoizes the cache key on the statement object, so a statement built
once and executed with parameters skips both, and its compiled form comes straight from
the engine's compiled cache. The security predicate is still the one `access_sql`
compiles (itself cached per RowFilter): statements that apply it are cached per
predicate object, so a statement never outlives or mixes up the predicate it was built
with.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Update,
    and_,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from app.storage.access_sql import COMPILED_CACHE_SIZE
from app.storage.tables import resource, resource_version

_BY_ID = and_(
    resource.c.res_type == bindparam("esp_type"), resource.c.res_id == bindparam("esp_id")
)
_CURRENT = and_(
    resource_version.c.res_pk == resource.c.pk,
    resource_version.c.version_id == resource.c.version_id,
)


def by_id(resource_type: str, resource_id: str, **more: Any) -> dict[str, Any]:
    """The parameters of a statement that selects one resource by type and id."""
    return {"esp_type": resource_type, "esp_id": resource_id, **more}


_CURRENT_COLUMNS = (
    resource.c.pk,
    resource.c.version_id,
    resource.c.last_updated,
    resource.c.deleted,
    resource.c.author_sor,
    resource_version.c.content,
    resource_version.c.method,
)


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def current(condition: ColumnElement[bool]) -> Select[Any]:
    """The current version of one resource (`by_id`), if `condition` lets it through."""
    return select(*_CURRENT_COLUMNS).join(resource_version, _CURRENT).where(_BY_ID, condition)


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def current_many(conditions: tuple[ColumnElement[bool], ...]) -> Select[Any]:
    """The current versions of resources of several types, one branch per type: rows of
    type `esp_type_<i>` with an id in `esp_ids_<i>` that `conditions[i]` lets through."""
    branches = (
        and_(
            resource.c.res_type == bindparam(f"esp_type_{i}"),
            resource.c.res_id.in_(bindparam(f"esp_ids_{i}", expanding=True)),
            condition,
        )
        for i, condition in enumerate(conditions)
    )
    return (
        select(resource.c.res_type, resource.c.res_id, *_CURRENT_COLUMNS)
        .join(resource_version, _CURRENT)
        .where(or_(*branches))
    )


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def version(condition: ColumnElement[bool]) -> Select[Any]:
    """Version `esp_version` of one resource (`by_id`), if `condition` lets it through."""
    return (
        select(
            resource.c.pk,
            resource_version.c.version_id,
            resource_version.c.last_updated,
            resource_version.c.deleted,
            resource.c.author_sor,
            resource_version.c.content,
            resource_version.c.method,
        )
        .join(resource_version, resource_version.c.res_pk == resource.c.pk)
        .where(_BY_ID, resource_version.c.version_id == bindparam("esp_version"), condition)
    )


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def head(condition: ColumnElement[bool]) -> Select[Any]:
    """(pk, version_id, deleted) of one resource (`by_id`), if `condition` lets it through."""
    return select(resource.c.pk, resource.c.version_id, resource.c.deleted).where(_BY_ID, condition)


# The pk whether or not the caller may see it (only to audit a refusal).
HIDDEN_PK = select(resource.c.pk).where(_BY_ID)


@cache
def lock_head(postgres: bool) -> Select[Any]:
    """The head row of one resource (`by_id`), locked on PostgreSQL."""
    query = select(
        resource.c.pk,
        resource.c.version_id,
        resource.c.deleted,
        resource.c.last_updated,
        resource.c.author_sor,
    ).where(_BY_ID)
    return query.with_for_update() if postgres else query


@cache
def insert_head(postgres: bool) -> Insert:
    """INSERT a head row unless its (type, id) exists; RETURNING its pk."""
    dialect_insert = postgresql.insert if postgres else sqlite.insert
    return (
        dialect_insert(resource)
        .on_conflict_do_nothing(index_elements=["res_type", "res_id"])
        .returning(resource.c.pk)
    )


# Move a head from version `esp_from` to the next (no row: someone else moved it).
MOVE_HEAD: Update = (
    update(resource)
    .where(resource.c.pk == bindparam("esp_pk"), resource.c.version_id == bindparam("esp_from"))
    .values(
        version_id=bindparam("esp_to"),
        last_updated=bindparam("esp_stamp"),
        deleted=bindparam("esp_deleted"),
    )
)

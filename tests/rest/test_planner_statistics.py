"""The migrations give PostgreSQL's planner the statistics delta pulls depend on."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.storage.engine import create_engine_sync


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_token_lookup_has_multicolumn_statistics(database_url: str) -> None:
    engine = create_engine_sync(database_url)
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT stxkeys::text, stxkind::text FROM pg_statistic_ext "
                "WHERE stxname = 'st_search_token_lookup' "
                "AND stxnamespace = current_schema()::regnamespace"
            )
        )
        row = found.first()
    engine.dispose()
    assert row is not None, "migration 0004 did not create the statistics"
    assert "m" in row.stxkind and "f" in row.stxkind  # mcv and functional dependencies

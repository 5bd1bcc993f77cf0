"""Multi-column statistics for token lookups (PostgreSQL only; docs/performance.md).

PostgreSQL multiplies the selectivities of res_type, param, code and system as if they
were independent, and estimated a category that holds 40% of all CarePlans at 7 rows
out of 1,739 (10k resources). With that estimate it drove delta pulls from the
category instead of walking `_lastUpdated`, which grew with the data (835 ms at 450k).
An MCV list over the four columns gives it the real frequencies (4 ms at 450k).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE STATISTICS IF NOT EXISTS st_search_token_lookup (mcv, dependencies) "
        "ON res_type, param, code, system FROM search_token"
    )
    op.execute("ANALYZE search_token")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP STATISTICS IF EXISTS st_search_token_lookup")

"""The reference target index carries res_pk: one target's rows in pk order, so a default-
ordered page of `subject=Patient/X` walks them and stops after LIMIT matches whatever the
statistics say (issue #14 part 3, app/storage/search_sql.py `Driver`). It replaces the index
without res_pk (same leading columns), so writes keep the same number of index entries.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("search_reference") as batch_op:
        batch_op.create_index(
            "ix_search_reference_target_pk",
            ["res_type", "param", "target_id", "target_type", "res_pk"],
            unique=False,
        )
        batch_op.drop_index("ix_search_reference_target")


def downgrade() -> None:
    with op.batch_alter_table("search_reference") as batch_op:
        batch_op.create_index(
            "ix_search_reference_target",
            ["res_type", "param", "target_id", "target_type"],
            unique=False,
        )
        batch_op.drop_index("ix_search_reference_target_pk")

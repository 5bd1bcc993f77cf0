"""Citizen portal sessions, shared by every worker process (docs/portal.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_portal_session")),
    )
    op.create_index("ix_portal_session_expires_at", "portal_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_portal_session_expires_at", table_name="portal_session")
    op.drop_table("portal_session")

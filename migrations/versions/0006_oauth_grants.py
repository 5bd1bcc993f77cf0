"""Authorization codes and refresh tokens of the development issuer (docs/authorization.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_grant",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_oauth_grant")),
    )
    op.create_index("ix_oauth_grant_family", "oauth_grant", ["family"])
    op.create_index("ix_oauth_grant_expires_at", "oauth_grant", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oauth_grant_expires_at", table_name="oauth_grant")
    op.drop_index("ix_oauth_grant_family", table_name="oauth_grant")
    op.drop_table("oauth_grant")

"""Subscriptions: the outbox of written versions and each Subscription's delivery state
(issue #15 part 2, docs/events.md).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", _PK, autoincrement=True, nullable=False),
        sa.Column("res_pk", _PK, nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["res_pk"], ["resource.pk"], name=op.f("fk_outbox_res_pk_resource"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_type_updated", "outbox", ["res_type", "last_updated", "seq"])
    op.create_table(
        "subscription_state",
        sa.Column("res_pk", _PK, nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("principal", _JSON, nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cursor_at", _WHEN, nullable=False),
        sa.Column("cursor_seq", _PK, nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", _WHEN, nullable=True),
        sa.Column("next_attempt_at", _WHEN, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["res_pk"],
            ["resource.pk"],
            name=op.f("fk_subscription_state_res_pk_resource"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("res_pk", name=op.f("pk_subscription_state")),
    )
    op.create_index("ix_subscription_state_owner", "subscription_state", ["owner"])
    op.create_index(
        "ix_subscription_state_due", "subscription_state", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_subscription_state_due", table_name="subscription_state")
    op.drop_index("ix_subscription_state_owner", table_name="subscription_state")
    op.drop_table("subscription_state")
    op.drop_index("ix_outbox_type_updated", table_name="outbox")
    op.drop_table("outbox")

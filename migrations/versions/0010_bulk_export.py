"""Bulk Data $export: the job table and the patients each job exported (issue #15 part 5,
docs/bulk.md).

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "export_job",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("principal", _JSON, nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("params", _JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("transaction_time", _WHEN, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("output", _JSON, nullable=False),
        sa.Column("progress", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_job")),
    )
    op.create_index("ix_export_job_owner", "export_job", ["owner"])
    op.create_index("ix_export_job_due", "export_job", ["status", "lease_until"])
    op.create_index("ix_export_job_expires_at", "export_job", ["expires_at"])
    op.create_table(
        "export_patient",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["export_job.id"],
            name=op.f("fk_export_patient_job_id_export_job"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "patient_id", name=op.f("pk_export_patient")),
    )


def downgrade() -> None:
    op.drop_table("export_patient")
    op.drop_index("ix_export_job_expires_at", table_name="export_job")
    op.drop_index("ix_export_job_due", table_name="export_job")
    op.drop_index("ix_export_job_owner", table_name="export_job")
    op.drop_table("export_job")

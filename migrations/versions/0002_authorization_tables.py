"""Authorization facts computed at write time: treatment relations and opt-outs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "care_relation",
        sa.Column("res_pk", _PK, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("org_sor", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["res_pk"],
            ["resource.pk"],
            name=op.f("fk_care_relation_res_pk_resource"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("res_pk", "patient_id", "org_sor", "kind", name="uq_care_relation"),
    )
    op.create_index("ix_care_relation_org_patient", "care_relation", ["org_sor", "patient_id"])
    op.create_table(
        "opt_out",
        sa.Column("res_pk", _PK, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("actor_sor", sa.String(length=32), nullable=True),
        sa.Column("actor_authorization_id", sa.String(length=16), nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("res_type", sa.String(length=64), nullable=True),
        sa.Column("data_ref", sa.String(length=140), nullable=True),
        sa.ForeignKeyConstraint(
            ["res_pk"], ["resource.pk"], name=op.f("fk_opt_out_res_pk_resource"), ondelete="CASCADE"
        ),
    )
    op.create_index("ix_opt_out_patient", "opt_out", ["patient_id"])
    op.create_index("ix_opt_out_res", "opt_out", ["res_pk"])


def downgrade() -> None:
    op.drop_index("ix_opt_out_res", table_name="opt_out")
    op.drop_index("ix_opt_out_patient", table_name="opt_out")
    op.drop_table("opt_out")
    op.drop_index("ix_care_relation_org_patient", table_name="care_relation")
    op.drop_table("care_relation")

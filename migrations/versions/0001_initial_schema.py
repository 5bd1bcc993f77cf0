"""Initial schema: current pointers, immutable versions, search indexes, compartments.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 05:36:08.099951
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resource",
        sa.Column(
            "pk",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.CheckConstraint("version_id >= 1", name=op.f("ck_resource_version_positive")),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_resource")),
        sa.UniqueConstraint("res_type", "res_id", name="uq_resource_type_id"),
    )
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.create_index(
            "ix_resource_type_updated", ["res_type", "last_updated", "pk"], unique=False
        )
        batch_op.create_index("ix_resource_updated", ["last_updated", "pk"], unique=False)

    op.create_table(
        "service_setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_service_setting")),
    )
    op.create_table(
        "compartment",
        sa.Column("res_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["res_pk"],
            ["resource.pk"],
            name=op.f("fk_compartment_res_pk_resource"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("res_pk", "patient_id", name=op.f("pk_compartment")),
    )
    with op.batch_alter_table("compartment", schema=None) as batch_op:
        batch_op.create_index("ix_compartment_patient", ["patient_id", "res_pk"], unique=False)

    op.create_table(
        "resource_version",
        sa.Column("res_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("prev_version", sa.Integer(), nullable=True),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.CheckConstraint(
            "(version_id = 1 AND prev_version IS NULL) OR prev_version = version_id - 1",
            name=op.f("ck_resource_version_version_chain"),
        ),
        sa.CheckConstraint(
            "deleted OR content IS NOT NULL",
            name=op.f("ck_resource_version_content_unless_deleted"),
        ),
        sa.ForeignKeyConstraint(
            ["res_pk", "prev_version"],
            ["resource_version.res_pk", "resource_version.version_id"],
            name="fk_resource_version_previous",
        ),
        sa.ForeignKeyConstraint(
            ["res_pk"],
            ["resource.pk"],
            name=op.f("fk_resource_version_res_pk_resource"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("res_pk", "version_id", name=op.f("pk_resource_version")),
    )
    with op.batch_alter_table("resource_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_resource_version_type_updated",
            ["res_type", "last_updated", "res_pk", "version_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_resource_version_updated", ["last_updated", "res_pk", "version_id"], unique=False
        )

    # The current pointer must name a written version. Deferred, because a new
    # resource's head row and its first version are inserted in one transaction.
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_resource_current_version",
            "resource_version",
            ["pk", "version_id"],
            ["res_pk", "version_id"],
            deferrable=True,
            initially="DEFERRED",
        )

    op.create_table(
        "search_date",
        sa.Column("res_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=64), nullable=False),
        sa.Column("low", sa.DateTime(timezone=True), nullable=True),
        sa.Column("high", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["res_pk"],
            ["resource.pk"],
            name=op.f("fk_search_date_res_pk_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("search_date", schema=None) as batch_op:
        batch_op.create_index("ix_search_date_high", ["res_type", "param", "high"], unique=False)
        batch_op.create_index("ix_search_date_low", ["res_type", "param", "low"], unique=False)
        batch_op.create_index("ix_search_date_res", ["res_pk"], unique=False)

    op.create_table(
        "search_reference",
        sa.Column("res_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("target_url", sa.String(length=1024), nullable=True),
        sa.Column("ident_system", sa.String(length=255), nullable=True),
        sa.Column("ident_value", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["res_pk"],
            ["resource.pk"],
            name=op.f("fk_search_reference_res_pk_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("search_reference", schema=None) as batch_op:
        batch_op.create_index(
            "ix_search_reference_ident",
            ["res_type", "param", "ident_value", "ident_system"],
            unique=False,
        )
        batch_op.create_index("ix_search_reference_res", ["res_pk"], unique=False)
        batch_op.create_index(
            "ix_search_reference_reverse", ["target_type", "target_id", "param"], unique=False
        )
        batch_op.create_index(
            "ix_search_reference_target",
            ["res_type", "param", "target_id", "target_type"],
            unique=False,
        )

    op.create_table(
        "search_string",
        sa.Column("res_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=64), nullable=False),
        sa.Column("value_norm", sa.String(length=512), nullable=False),
        sa.Column("value_exact", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["res_pk"],
            ["resource.pk"],
            name=op.f("fk_search_string_res_pk_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("search_string", schema=None) as batch_op:
        batch_op.create_index(
            "ix_search_string_lookup",
            ["res_type", "param", "value_norm"],
            unique=False,
            postgresql_ops={"value_norm": "varchar_pattern_ops"},
        )
        batch_op.create_index("ix_search_string_res", ["res_pk"], unique=False)

    op.create_table(
        "search_token",
        sa.Column("res_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=True),
        sa.Column("code", sa.String(length=255), nullable=True),
        sa.Column("text", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["res_pk"],
            ["resource.pk"],
            name=op.f("fk_search_token_res_pk_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("search_token", schema=None) as batch_op:
        batch_op.create_index(
            "ix_search_token_lookup", ["res_type", "param", "code", "system"], unique=False
        )
        batch_op.create_index("ix_search_token_res", ["res_pk"], unique=False)

    op.create_table(
        "search_uri",
        sa.Column("res_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=64), nullable=False),
        sa.Column("uri", sa.String(length=1024), nullable=False),
        sa.ForeignKeyConstraint(
            ["res_pk"],
            ["resource.pk"],
            name=op.f("fk_search_uri_res_pk_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("search_uri", schema=None) as batch_op:
        batch_op.create_index("ix_search_uri_lookup", ["res_type", "param", "uri"], unique=False)
        batch_op.create_index("ix_search_uri_res", ["res_pk"], unique=False)

    # Shared by all app nodes: signs paging cursors.
    settings = sa.table("service_setting", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.bulk_insert(settings, [{"key": "cursor_secret", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_constraint("fk_resource_current_version", type_="foreignkey")

    with op.batch_alter_table("search_uri", schema=None) as batch_op:
        batch_op.drop_index("ix_search_uri_res")
        batch_op.drop_index("ix_search_uri_lookup")

    op.drop_table("search_uri")
    with op.batch_alter_table("search_token", schema=None) as batch_op:
        batch_op.drop_index("ix_search_token_res")
        batch_op.drop_index("ix_search_token_lookup")

    op.drop_table("search_token")
    with op.batch_alter_table("search_string", schema=None) as batch_op:
        batch_op.drop_index("ix_search_string_res")
        batch_op.drop_index(
            "ix_search_string_lookup", postgresql_ops={"value_norm": "varchar_pattern_ops"}
        )

    op.drop_table("search_string")
    with op.batch_alter_table("search_reference", schema=None) as batch_op:
        batch_op.drop_index("ix_search_reference_target")
        batch_op.drop_index("ix_search_reference_reverse")
        batch_op.drop_index("ix_search_reference_res")
        batch_op.drop_index("ix_search_reference_ident")

    op.drop_table("search_reference")
    with op.batch_alter_table("search_date", schema=None) as batch_op:
        batch_op.drop_index("ix_search_date_res")
        batch_op.drop_index("ix_search_date_low")
        batch_op.drop_index("ix_search_date_high")

    op.drop_table("search_date")
    with op.batch_alter_table("resource_version", schema=None) as batch_op:
        batch_op.drop_index("ix_resource_version_updated")
        batch_op.drop_index("ix_resource_version_type_updated")

    op.drop_table("resource_version")
    with op.batch_alter_table("compartment", schema=None) as batch_op:
        batch_op.drop_index("ix_compartment_patient")

    op.drop_table("compartment")
    op.drop_table("service_setting")
    with op.batch_alter_table("resource", schema=None) as batch_op:
        batch_op.drop_index("ix_resource_updated")
        batch_op.drop_index("ix_resource_type_updated")

    op.drop_table("resource")

"""Access from evidence: author organisations, relations only from authorities, sharing by
naming, what plans lead to, and one Patient per CPR (issue #13, docs/authorization.md).

`care_relation` recorded every organisation that wrote for a patient as treating it; that
rule is retired. What replaces it:
- `resource.author_sor`, `resource_version.author_sor`: who created / wrote it (server-set);
- `treatment_relation`: relation records of relation authorities only;
- `share`, `plan_link`: what a plan shares with the parties it names and what it leads to;
- `patient_cpr`: the unique key that keeps one Patient per CPR number.

Backfill: an author where `care_relation` held exactly one authoring organisation for the
resource (else NULL: only an internal job may change it), and the CPR key for the oldest
current Patient per CPR. The derived rows need the resources' JSON, so the migration leaves
the marker `access_rows_stale` and `esp-careplans db upgrade` rebuilds them right after it
(the service refuses to start while the marker is there).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["res_pk"], ["resource.pk"], name=op.f(f"fk_{table}_res_pk_resource"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.add_column("resource", sa.Column("author_sor", sa.String(length=32), nullable=True))
    op.add_column("resource_version", sa.Column("author_sor", sa.String(length=32), nullable=True))
    op.create_table(
        "treatment_relation",
        sa.Column("res_pk", _PK, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("org_sor", sa.String(length=32), nullable=False),
        sa.Column("recorded_by", sa.String(length=32), nullable=False),
        _fk("treatment_relation"),
        sa.UniqueConstraint("res_pk", "patient_id", "org_sor", name="uq_treatment_relation"),
    )
    op.create_index(
        "ix_treatment_relation_org",
        "treatment_relation",
        ["org_sor", "patient_id", "recorded_by"],
    )
    op.create_table(
        "share",
        sa.Column("res_pk", _PK, nullable=False),
        sa.Column("org_sor", sa.String(length=32), nullable=False),
        sa.Column("author_sor", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        _fk("share"),
        sa.UniqueConstraint("res_pk", "org_sor", "target_type", "target_id", name="uq_share"),
    )
    op.create_index("ix_share_org_target", "share", ["org_sor", "target_type", "target_id"])
    op.create_table(
        "plan_link",
        sa.Column("res_pk", _PK, nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        _fk("plan_link"),
        sa.UniqueConstraint("res_pk", "target_type", "target_id", name="uq_plan_link"),
    )
    op.create_index("ix_plan_link_target", "plan_link", ["target_type", "target_id", "hidden"])
    op.create_table(
        "patient_cpr",
        sa.Column("cpr", sa.String(length=10), nullable=False),
        sa.Column("res_pk", _PK, nullable=False),
        _fk("patient_cpr"),
        sa.PrimaryKeyConstraint("cpr", name=op.f("pk_patient_cpr")),
    )
    op.create_index("ix_patient_cpr_res", "patient_cpr", ["res_pk"])

    op.execute(
        "UPDATE resource SET author_sor = ("
        " SELECT MIN(cr.org_sor) FROM care_relation cr"
        " WHERE cr.res_pk = resource.pk AND cr.kind = 'author')"
        " WHERE (SELECT COUNT(DISTINCT cr.org_sor) FROM care_relation cr"
        " WHERE cr.res_pk = resource.pk AND cr.kind = 'author') = 1"
    )
    op.execute(
        "INSERT INTO patient_cpr (cpr, res_pk)"
        " SELECT t.code, MIN(t.res_pk) FROM search_token t"
        " JOIN resource r ON r.pk = t.res_pk"
        " WHERE t.res_type = 'Patient' AND t.param = 'identifier'"
        " AND t.system = 'urn:oid:1.2.208.176.1.2' AND t.code IS NOT NULL AND NOT r.deleted"
        " GROUP BY t.code"
    )
    op.execute(
        "INSERT INTO service_setting (key, value)"
        " SELECT 'access_rows_stale', '0005' WHERE EXISTS (SELECT 1 FROM resource)"
    )
    op.drop_index("ix_care_relation_org_patient", table_name="care_relation")
    op.drop_table("care_relation")


def downgrade() -> None:
    op.create_table(
        "care_relation",
        sa.Column("res_pk", _PK, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("org_sor", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _fk("care_relation"),
        sa.UniqueConstraint("res_pk", "patient_id", "org_sor", "kind", name="uq_care_relation"),
    )
    op.create_index("ix_care_relation_org_patient", "care_relation", ["org_sor", "patient_id"])
    # What the old rule derived from authorship; its other rows follow a reindex.
    op.execute(
        "INSERT INTO care_relation (res_pk, patient_id, org_sor, kind)"
        " SELECT c.res_pk, c.patient_id, r.author_sor, 'author' FROM compartment c"
        " JOIN resource r ON r.pk = c.res_pk WHERE r.author_sor IS NOT NULL"
    )
    op.execute("DELETE FROM service_setting WHERE key = 'access_rows_stale'")
    for index, table in (
        ("ix_patient_cpr_res", "patient_cpr"),
        ("ix_plan_link_target", "plan_link"),
        ("ix_share_org_target", "share"),
        ("ix_treatment_relation_org", "treatment_relation"),
    ):
        op.drop_index(index, table_name=table)
        op.drop_table(table)
    # Plain ALTER TABLE DROP COLUMN (SQLite 3.35+): a batch rebuild of `resource` would
    # break the foreign keys of every table that references it.
    op.drop_column("resource_version", "author_sor")
    op.drop_column("resource", "author_sor")

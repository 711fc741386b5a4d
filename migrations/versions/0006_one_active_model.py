"""at most one active model version per kind, enforced by a partial unique index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = "uq_model_versions_one_active_per_kind"
versions = sa.table(
    "model_versions",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("trained_at", sa.DateTime),
    sa.column("active", sa.Boolean),
)


def upgrade():
    deactivate_all_but_the_newest_active_version()
    with op.batch_alter_table("model_versions") as batch:
        batch.create_index(
            INDEX,
            ["kind"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )


def downgrade():
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_index(INDEX)


def deactivate_all_but_the_newest_active_version():
    """Where concurrent trainings left several active versions of a kind, keep the newest
    (latest trained, then highest id)."""
    newer = versions.alias("newer")
    newer_active = sa.exists().where(
        newer.c.kind == versions.c.kind,
        newer.c.active.is_(True),
        sa.or_(
            newer.c.trained_at > versions.c.trained_at,
            sa.and_(newer.c.trained_at == versions.c.trained_at, newer.c.id > versions.c.id),
        ),
    )
    op.execute(
        sa.update(versions).where(versions.c.active.is_(True), newer_active).values(active=False)
    )

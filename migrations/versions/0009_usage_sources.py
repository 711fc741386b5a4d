"""daily usage is kept per source (events roll-up, CSV import, SQL source), so no writer
overwrites another's day; existing rows become the source "imported". Event sources link users to
groups from their group() calls; a partial index finds a user's events without a groupId.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 07:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PRIMARY_KEY = "pk_usage_daily"
UNGROUPED_INDEX = "ix_raw_usage_events_ungrouped_user"
usage = sa.table(
    "usage_daily",
    sa.column("account_id", sa.Integer),
    sa.column("day", sa.Date),
    sa.column("source", sa.String),
    sa.column("active_users", sa.Integer),
    sa.column("events", sa.Integer),
    sa.column("features_used", sa.Integer),
)
FIGURES = ("active_users", "events", "features_used")


def upgrade():
    with op.batch_alter_table("usage_daily") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=32), server_default="imported", nullable=False)
        )
        batch.drop_constraint(PRIMARY_KEY, type_="primary")
        batch.create_primary_key(PRIMARY_KEY, ["account_id", "day", "source"])
    op.create_table(
        "usage_user_links",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("group_id", sa.String(length=200), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("changed_batch", sa.Integer(), nullable=True),
        sa.Column("previous_group_id", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["integration_connections.id"],
            name=op.f("fk_usage_user_links_connection_id_integration_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "user_id", name=op.f("pk_usage_user_links")),
    )
    with op.batch_alter_table("usage_user_links") as batch:
        batch.create_index("ix_usage_user_links_changed", ["connection_id", "changed_batch"])
        batch.create_index("ix_usage_user_links_group", ["group_id"])
    with op.batch_alter_table("raw_usage_events") as batch:
        batch.create_index(
            UNGROUPED_INDEX,
            ["connection_id", "user_id"],
            postgresql_where=sa.text("group_id IS NULL"),
            sqlite_where=sa.text("group_id IS NULL"),
        )


def downgrade():
    with op.batch_alter_table("raw_usage_events") as batch:
        batch.drop_index(UNGROUPED_INDEX)
    op.drop_table("usage_user_links")
    keep_one_combined_row_per_day()
    with op.batch_alter_table("usage_daily") as batch:
        batch.drop_constraint(PRIMARY_KEY, type_="primary")
        batch.create_primary_key(PRIMARY_KEY, ["account_id", "day"])
        batch.drop_column("source")


def keep_one_combined_row_per_day():
    """Where sources share an (account, day), the row of the first source (by name) takes the
    largest of each figure, as the combined reading did, and the others are deleted."""
    other = usage.alias("other")
    same_day = sa.and_(other.c.account_id == usage.c.account_id, other.c.day == usage.c.day)
    shared = sa.exists().where(same_day, other.c.source != usage.c.source)
    largest = {
        name: sa.select(sa.func.max(other.c[name])).where(same_day).scalar_subquery()
        for name in FIGURES
    }
    op.execute(sa.update(usage).where(shared).values(**largest))
    first = sa.select(sa.func.min(other.c.source)).where(same_day).scalar_subquery()
    op.execute(sa.delete(usage).where(usage.c.source != first))

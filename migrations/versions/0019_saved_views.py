"""saved views of the risk list: a user's named filters and sort, shared or their own

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 02:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("query_string", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("shared", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_saved_views_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_saved_views_owner_id_name")),
    )
    op.create_index("ix_saved_views_shared", "saved_views", ["shared"])


def downgrade():
    op.drop_index("ix_saved_views_shared", table_name="saved_views")
    op.drop_table("saved_views")

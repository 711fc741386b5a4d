"""health scores keep their context drivers and what changed since last week and last month

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 23:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("health_scores") as batch:
        batch.add_column(sa.Column("context", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("changes", sa.JSON(), nullable=False, server_default="{}"))


def downgrade():
    with op.batch_alter_table("health_scores") as batch:
        batch.drop_column("changes")
        batch.drop_column("context")

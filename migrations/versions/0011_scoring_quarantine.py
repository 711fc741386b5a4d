"""scoring runs count and name the accounts they quarantined (data that cannot be scored)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("scoring_runs") as batch:
        batch.add_column(sa.Column("quarantined", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("quarantined_accounts", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade():
    with op.batch_alter_table("scoring_runs") as batch:
        batch.drop_column("quarantined_accounts")
        batch.drop_column("quarantined")

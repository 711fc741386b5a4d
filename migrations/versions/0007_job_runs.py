"""job_runs: the latest run of each declared job, for catch-up and the admin's jobs page

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 06:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "job_runs",
        sa.Column("job_id", sa.String(length=100), nullable=False),
        sa.Column("slot", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("caught_up", sa.Boolean(), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_runs")),
    )


def downgrade():
    op.drop_table("job_runs")

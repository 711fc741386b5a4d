"""survey responses carry changed_at (the latest change of any kind), for updated_since pulls

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 07:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("survey_responses") as batch:
        batch.add_column(sa.Column("changed_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE survey_responses SET changed_at = COALESCE(updated_at, responded_at)")
    with op.batch_alter_table("survey_responses") as batch:
        batch.alter_column("changed_at", existing_type=sa.DateTime(), nullable=False)
        batch.create_index("ix_survey_responses_changed", ["changed_at", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("survey_responses") as batch:
        batch.drop_index("ix_survey_responses_changed")
        batch.drop_column("changed_at")

"""tasks are indexed by account (its page reads them; deleting an account cascades to them)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 18:20:00

"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tasks") as batch:
        batch.create_index(
            "ix_tasks_account_status_completed", ["account_id", "status", "completed_at"]
        )


def downgrade():
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_account_status_completed")

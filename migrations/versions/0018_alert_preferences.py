"""alert preferences: per-user channels per alert kind, Slack and Teams webhook URLs
(encrypted), quiet hours, pause

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 10:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "alert_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("slack_url_encrypted", sa.Text(), nullable=True),
        sa.Column("teams_url_encrypted", sa.Text(), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_alert_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_alert_preferences")),
    )


def downgrade():
    op.drop_table("alert_preferences")

"""survey campaigns carry the time zone their crontab's hours are read in (UTC until changed)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 06:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("survey_campaigns") as batch:
        batch.add_column(
            sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("survey_campaigns") as batch:
        batch.drop_column("timezone")

"""outbox messages carry a lane (a webhook endpoint): each lane is delivered on its own thread

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 02:45:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("lane", sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("lane")

"""contacts carry updated_at (any change of the row), for updated_since pulls of the contacts API;
invitation period keys hold "api:<reference>" (references up to 64 characters)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 08:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE contacts SET updated_at = created_at")
    with op.batch_alter_table("contacts") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(), nullable=False)
        batch.create_index("ix_contacts_updated_at", ["updated_at", "id"], unique=False)
    with op.batch_alter_table("survey_invitations") as batch:
        batch.alter_column(
            "period_key", existing_type=sa.String(length=32), type_=sa.String(length=80)
        )


def downgrade():
    with op.batch_alter_table("survey_invitations") as batch:
        batch.alter_column(
            "period_key", existing_type=sa.String(length=80), type_=sa.String(length=32)
        )
    with op.batch_alter_table("contacts") as batch:
        batch.drop_index("ix_contacts_updated_at")
        batch.drop_column("updated_at")

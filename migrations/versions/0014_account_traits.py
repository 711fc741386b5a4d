"""custom account traits: a typed definition per key and one value per account and key, in the
column of its type, indexed for filters

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 09:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "trait_definitions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("description", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "type IN ('string', 'number', 'boolean', 'date')",
            name=op.f("ck_trait_definitions_type"),
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_trait_definitions")),
    )
    op.create_table(
        "account_traits",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value_text", sa.String(length=1000), nullable=True),
        sa.Column("value_number", sa.Double(), nullable=True),
        sa.Column("value_bool", sa.Boolean(), nullable=True),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_traits_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["key"],
            ["trait_definitions.key"],
            name=op.f("fk_account_traits_key_trait_definitions"),
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "key", name=op.f("pk_account_traits")),
    )
    with op.batch_alter_table("account_traits") as batch:
        batch.create_index("ix_account_traits_key_text", ["key", "value_text"])
        batch.create_index("ix_account_traits_key_number", ["key", "value_number"])
        batch.create_index("ix_account_traits_key_date", ["key", "value_date"])


def downgrade():
    op.drop_table("account_traits")
    op.drop_table("trait_definitions")

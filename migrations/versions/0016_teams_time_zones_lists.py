"""users get a time zone and a team lead (a new role); accounts can be put on named lists

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 01:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("team_lead_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_users_team_lead_id_users"),
            "users",
            ["team_lead_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.drop_constraint(op.f("ck_users_role"), type_="check")
        batch.create_check_constraint(
            op.f("ck_users_role"), "role IN ('admin', 'team_lead', 'csm', 'viewer')"
        )
    op.create_table(
        "account_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_account_lists_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_account_lists_name")),
    )
    op.create_table(
        "account_list_members",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_list_members_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["account_lists.id"],
            name=op.f("fk_account_list_members_list_id_account_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", "account_id", name=op.f("pk_account_list_members")),
    )
    op.create_index(
        op.f("ix_account_list_members_account_id"), "account_list_members", ["account_id"]
    )


def downgrade():
    op.drop_index(op.f("ix_account_list_members_account_id"), table_name="account_list_members")
    op.drop_table("account_list_members")
    op.drop_table("account_lists")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_role"), type_="check")
        batch.create_check_constraint(op.f("ck_users_role"), "role IN ('admin', 'csm', 'viewer')")
        batch.drop_constraint(op.f("fk_users_team_lead_id_users"), type_="foreignkey")
        batch.drop_column("team_lead_id")
        batch.drop_column("timezone")

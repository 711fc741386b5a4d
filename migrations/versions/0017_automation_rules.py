"""automation rules: versions, matches, waits and the run log; rule tasks and timeline entries

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 02:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

OLD_TASK_KINDS = "kind IN ('churn_risk', 'detractor', 'health_drop', 'renewal', 'manual')"
NEW_TASK_KINDS = "kind IN ('churn_risk', 'detractor', 'health_drop', 'renewal', 'manual', 'rule')"
OLD_TIMELINE = "kind IN ('note', 'outreach', 'sync', 'score_change', 'task', 'survey', 'override')"
NEW_TIMELINE = (
    "kind IN ('note', 'outreach', 'sync', 'score_change', 'task', 'survey', 'override', "
    "'automation')"
)


def _recheck(table: str, name: str, condition: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(op.f(name), type_="check")
        batch.create_check_constraint(op.f(name), condition)


def upgrade():
    _recheck("tasks", "ck_tasks_kind", NEW_TASK_KINDS)
    _recheck("timeline_entries", "ck_timeline_entries_kind", NEW_TIMELINE)
    op.create_table(
        "automation_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("confirmed_accounts", sa.Integer(), nullable=True),
        sa.Column("paused_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_rules")),
        sa.UniqueConstraint("name", name=op.f("uq_automation_rules_name")),
    )
    op.create_table(
        "automation_rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("saved_by_id", sa.Integer(), nullable=True),
        sa.Column("saved_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["automation_rules.id"],
            name=op.f("fk_automation_rule_versions_rule_id_automation_rules"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["saved_by_id"], ["users.id"],
            name=op.f("fk_automation_rule_versions_saved_by_id_users"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_rule_versions")),
        sa.UniqueConstraint(
            "rule_id", "version", name=op.f("uq_automation_rule_versions_rule_id_version")
        ),
    )
    op.create_table(
        "automation_rule_matches",
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"],
            name=op.f("fk_automation_rule_matches_account_id_accounts"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["automation_rules.id"],
            name=op.f("fk_automation_rule_matches_rule_id_automation_rules"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "account_id", name=op.f("pk_automation_rule_matches")),
    )
    op.create_index(
        op.f("ix_automation_rule_matches_account_id"), "automation_rule_matches", ["account_id"]
    )
    op.create_table(
        "automation_rule_waits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=120), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"],
            name=op.f("fk_automation_rule_waits_account_id_accounts"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["automation_rules.id"],
            name=op.f("fk_automation_rule_waits_rule_id_automation_rules"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_rule_waits")),
        sa.UniqueConstraint(
            "rule_id", "account_id", "path",
            name=op.f("uq_automation_rule_waits_rule_id_account_id_path"),
        ),
    )
    op.create_index("ix_automation_rule_waits_due_at", "automation_rule_waits", ["due_at"])
    op.create_table(
        "automation_rule_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("ran_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"],
            name=op.f("fk_automation_rule_runs_account_id_accounts"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["automation_rules.id"],
            name=op.f("fk_automation_rule_runs_rule_id_automation_rules"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_rule_runs")),
    )
    op.create_table(
        "automation_band_days",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=8), nullable=False),
        sa.Column("prior_band", sa.String(length=8), nullable=True),
        sa.Column("score", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"],
            name=op.f("fk_automation_band_days_account_id_accounts"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_automation_band_days")),
    )
    op.create_table(
        "automation_usage_weeks",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("this_week", sa.BigInteger(), nullable=False),
        sa.Column("last_week", sa.BigInteger(), nullable=False),
        sa.Column("active_users", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"],
            name=op.f("fk_automation_usage_weeks_account_id_accounts"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_automation_usage_weeks")),
    )
    op.create_index(
        "ix_automation_rule_runs_rule_at", "automation_rule_runs", ["rule_id", "ran_at"]
    )
    op.create_index(
        "ix_automation_rule_runs_account_at", "automation_rule_runs", ["account_id", "ran_at"]
    )


def downgrade():
    op.drop_table("automation_usage_weeks")
    op.drop_table("automation_band_days")
    op.drop_table("automation_rule_runs")
    op.drop_table("automation_rule_waits")
    op.drop_table("automation_rule_matches")
    op.drop_table("automation_rule_versions")
    op.drop_table("automation_rules")
    op.execute("DELETE FROM timeline_entries WHERE kind = 'automation'")
    op.execute("DELETE FROM tasks WHERE kind = 'rule'")
    _recheck("timeline_entries", "ck_timeline_entries_kind", OLD_TIMELINE)
    _recheck("tasks", "ck_tasks_kind", OLD_TASK_KINDS)

"""webhook events are stored once (the event list API), deliveries point to them and may be held
for a disabled endpoint; the health band last announced per account (band hysteresis)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 08:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STATUS_CHECK = "ck_webhook_deliveries_status"
deliveries = sa.table(
    "webhook_deliveries",
    sa.column("id", sa.Integer),
    sa.column("message_id", sa.String),
    sa.column("event_type", sa.String),
    sa.column("body", sa.Text),
    sa.column("status", sa.String),
    sa.column("created_at", sa.DateTime),
    sa.column("event_id", sa.Integer),
)
events = sa.table(
    "webhook_events",
    sa.column("id", sa.Integer),
    sa.column("message_id", sa.String),
    sa.column("event_type", sa.String),
    sa.column("body", sa.Text),
    sa.column("position", sa.Integer),
    sa.column("created_at", sa.DateTime),
)


def upgrade():
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=80), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("message_id", name=op.f("uq_webhook_events_message_id")),
        sa.UniqueConstraint("position", name=op.f("uq_webhook_events_position")),
    )
    op.create_index("ix_webhook_events_created_at", "webhook_events", ["created_at"])
    op.create_table(
        "webhook_announced_bands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("scored_on", sa.Date(), nullable=False),
        sa.Column("band", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_webhook_announced_bands_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_announced_bands")),
        sa.UniqueConstraint(
            "account_id", "scored_on", name=op.f("uq_webhook_announced_bands_account_id_scored_on")
        ),
    )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_webhook_deliveries_event_id_webhook_events"),
            "webhook_events",
            ["event_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_webhook_deliveries_event_id", ["event_id"])
        batch.drop_constraint(op.f(STATUS_CHECK), type_="check")
        batch.create_check_constraint(
            op.f(STATUS_CHECK), "status IN ('pending', 'succeeded', 'failed', 'held')"
        )
    store_logged_events_once()


def downgrade():
    op.execute(deliveries.update().where(deliveries.c.status == "held").values(status="failed"))
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_constraint(op.f(STATUS_CHECK), type_="check")
        batch.create_check_constraint(
            op.f(STATUS_CHECK), "status IN ('pending', 'succeeded', 'failed')"
        )
        batch.drop_index("ix_webhook_deliveries_event_id")
        batch.drop_constraint(
            op.f("fk_webhook_deliveries_event_id_webhook_events"), type_="foreignkey"
        )
        batch.drop_column("event_id")
    op.drop_table("webhook_announced_bands")
    op.drop_index("ix_webhook_events_created_at", table_name="webhook_events")
    op.drop_table("webhook_events")


def store_logged_events_once():
    """Each event in the delivery log becomes one stored event (the body of its first delivery),
    listed in the order it was logged, and its deliveries point to it."""
    earlier = deliveries.alias("earlier")
    first_of_event = ~sa.exists().where(
        earlier.c.message_id == deliveries.c.message_id, earlier.c.id < deliveries.c.id
    )
    logged = sa.select(
        deliveries.c.message_id, deliveries.c.event_type, deliveries.c.body, deliveries.c.created_at
    ).where(first_of_event)
    columns = ["message_id", "event_type", "body", "created_at"]
    op.execute(events.insert().from_select(columns, logged.order_by(deliveries.c.id)))
    op.execute(events.update().values(position=events.c.id))
    stored = sa.select(events.c.id).where(events.c.message_id == deliveries.c.message_id)
    op.execute(deliveries.update().values(event_id=stored.scalar_subquery()))

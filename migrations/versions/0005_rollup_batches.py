"""raw usage events carry the roll-up batch that claimed them (NULL: not rolled up yet), replacing
the id watermark that skipped events committed late with a lower id

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 09:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEX = "ix_raw_usage_events_rollup"
events = sa.table(
    "raw_usage_events",
    sa.column("id", sa.Integer),
    sa.column("connection_id", sa.Integer),
    sa.column("rollup_batch", sa.Integer),
)
states = sa.table(
    "integration_sync_states",
    sa.column("connection_id", sa.Integer),
    sa.column("stream", sa.String),
    sa.column("cursor", sa.Text),
)


def upgrade():
    with op.batch_alter_table("raw_usage_events") as batch:
        batch.add_column(sa.Column("rollup_batch", sa.Integer(), nullable=True))
    mark_events_under_the_watermark_as_rolled_up()
    with op.batch_alter_table("raw_usage_events") as batch:
        batch.create_index(INDEX, ["connection_id", "rollup_batch"])


def downgrade():
    restore_the_watermarks()
    with op.batch_alter_table("raw_usage_events") as batch:
        batch.drop_index(INDEX)
        batch.drop_column("rollup_batch")


def mark_events_under_the_watermark_as_rolled_up():
    """Batch 0 for the events at or below their connection's watermark; the rest (and events of
    a connection never rolled up) stay NULL and are rolled up once by the next run."""
    watermark = (
        sa.select(sa.cast(states.c.cursor, sa.Integer))
        .where(states.c.connection_id == events.c.connection_id, states.c.stream == "rollup")
        .scalar_subquery()
    )
    op.execute(sa.update(events).where(events.c.id <= watermark).values(rollup_batch=0))


def restore_the_watermarks():
    """The cursor holds a batch number now; give the old code back an id watermark under every
    event not rolled up yet (or the newest id, or 0 without events)."""
    own_events = events.c.connection_id == states.c.connection_id
    below_unclaimed = (
        sa.select(sa.func.min(events.c.id) - 1)
        .where(own_events, events.c.rollup_batch.is_(None))
        .scalar_subquery()
    )
    newest = sa.select(sa.func.max(events.c.id)).where(own_events).scalar_subquery()
    watermark = sa.func.coalesce(below_unclaimed, newest, 0)
    op.execute(
        sa.update(states)
        .where(states.c.stream == "rollup")
        .values(cursor=sa.cast(watermark, sa.Text))
    )

"""Idempotent writers shared by connectors: tickets on (source, external_id), id mappings."""

from __future__ import annotations

from collections.abc import Sequence

from cs_platform.bulk_writes import upsert
from cs_platform.models import ExternalId, utcnow
from integrations.models import SupportTicket
from integrations.records import Parsed

TICKET_COLUMNS = (
    "account_id", "subject", "status", "priority", "created_at", "updated_at", "solved_at",
    "first_reply_minutes", "resolution_minutes", "satisfaction", "requester_email", "synced_at",
)  # fmt: skip


def write_tickets(source: str, rows: list[tuple[Parsed, int | None]]) -> tuple[int, int]:
    """Upsert helpdesk tickets; returns (created, updated). Every written row is stamped with
    the time of writing (`synced_at`), which event-triggered surveys read tickets by."""
    now = utcnow()
    by_key = {
        item.key: {**item.values, "account_id": account_id, "synced_at": now}
        for item, account_id in rows
    }
    created = upsert(
        SupportTicket.__table__,
        [{"source": source, "external_id": key, **values} for key, values in by_key.items()],
        ["source", "external_id"],
        TICKET_COLUMNS,
    )
    return created, len(by_key) - created


def write_external_ids(source: str, rows: Sequence[tuple[Parsed, int | None]]) -> tuple[int, int]:
    """Remember which account each source id belongs to; returns (created, updated)."""
    mapping = {item.key: account_id for item, account_id in rows if account_id is not None}
    created = upsert(
        ExternalId.__table__,
        [{"source": source, "external_id": key, "account_id": acc} for key, acc in mapping.items()],
        ["source", "external_id"],
        ["account_id"],
    )
    return created, len(mapping) - created

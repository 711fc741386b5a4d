"""Paging helpers: newest-first pages of the admin logs (webhook deliveries, the audit log), by
row id (an "Older" link carries the last id shown, so rows added meanwhile never shift a page),
and the page count of numbered lists (the risk list, the task list)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from cs_platform.extensions import db


def newest_first(
    query: Select, id_column: InstrumentedAttribute, before: int | None, size: int
) -> tuple[list[Any], int | None]:
    """Up to `size` rows of `query` with ids below `before`, newest first, and the `before` of
    the next, older page (None on the last page)."""
    if before:
        query = query.where(id_column < before)
    rows = list(db.session.scalars(query.order_by(id_column.desc()).limit(size + 1)))
    older = rows[size - 1].id if len(rows) > size else None
    return rows[:size], older


def page_count(total: int, per_page: int) -> int:
    """How many numbered pages `total` rows fill (at least one, so page 1 always exists)."""
    return max(1, -(-total // per_page))

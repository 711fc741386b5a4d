"""Which daily digests went out (or were skipped, nothing having changed), per user and day."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cs_platform.extensions import Model
from cs_platform.models import in_check, utcnow

OUTCOMES = ("sent", "skipped")


class DigestDay(Model):
    """A user's digest of one day in their own time zone: queued ("sent") or "skipped"."""

    __tablename__ = "digest_days"
    __table_args__ = (CheckConstraint(in_check("outcome", OUTCOMES), name="outcome"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    outcome: Mapped[str] = mapped_column(String(8))
    lines: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

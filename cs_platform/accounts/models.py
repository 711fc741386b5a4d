"""Tables of the account pages: saved views of the risk list."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_platform.extensions import Model
from cs_platform.models import User, utcnow


class SavedView(Model):
    """A named risk-list view: its filters and sort as a normalised query string
    ("band=red&owner=me"), its owner's own or shared with everyone."""

    __tablename__ = "saved_views"
    __table_args__ = (
        UniqueConstraint("owner_id", "name"),
        Index("ix_saved_views_shared", "shared"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    query_string: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    shared: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    owner: Mapped[User] = relationship()

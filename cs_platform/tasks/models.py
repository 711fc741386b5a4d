"""Playbooks (named checklists) and the steps they add to a task."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cs_platform.extensions import Model
from cs_platform.models import Task, User, utcnow


class Playbook(Model):
    """A named checklist, e.g. "Detractor call-back": call within 48 h, log reason, re-survey."""

    __tablename__ = "playbooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # The checklist, in order: ["Call the contact within 48 hours", ...]
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The task kind it suits (offered first for such tasks); None suits every kind.
    task_kind: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TaskStep(Model):
    """One checklist step on a task, copied from a playbook when it was applied."""

    __tablename__ = "task_steps"
    __table_args__ = (Index("ix_task_steps_task_position", "task_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    playbook_id: Mapped[int | None] = mapped_column(ForeignKey("playbooks.id", ondelete="SET NULL"))
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(300))
    done_at: Mapped[dt.datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    task: Mapped[Task] = relationship()
    done_by: Mapped[User | None] = relationship()

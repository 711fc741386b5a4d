"""CSM tasks (read only): what the team is doing about each risk."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cs_platform.api.core import api_blueprint, guarded, query_args
from cs_platform.api.pagination import keyset_page, page_schema
from cs_platform.api.schemas import TaskListArgs, TaskSchema
from cs_platform.models import Task

bp = api_blueprint("tasks_api", __name__, "Tasks of the CSM team.", tag="Tasks")


@bp.route("/tasks", methods=["GET"])
@guarded(bp, "read:scores")
@query_args(bp, TaskListArgs)
@bp.response(200, page_schema(TaskSchema))
def list_tasks(**args: Any):
    """Tasks, oldest first, filtered by status, kind or account."""
    statement = select(Task)
    for name in ("status", "kind", "account_id"):
        if name in args:
            statement = statement.where(getattr(Task, name) == args[name])
    return keyset_page(statement, (Task.id,), args)

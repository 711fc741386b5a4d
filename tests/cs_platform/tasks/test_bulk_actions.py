"""Bulk actions on the task list: each task checked and logged as its single action would be."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import current_app
from sqlalchemy import func, select

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.models import Task, TimelineEntry
from tests.factories import AccountFactory, TaskFactory

TODAY = clock.today()


@pytest.fixture
def mine(csm) -> list[Task]:
    account = AccountFactory(owner=csm)
    return [
        TaskFactory(account=account, owner=csm, reason=f"r{n}", due_date=TODAY, severity="low")
        for n in range(2)
    ]


@pytest.fixture
def theirs(make_user) -> Task:
    """A task on someone else's account, assigned to them: not the CSM's to change."""
    other = make_user("csm", name="Other")
    return TaskFactory(account=AccountFactory(owner=other), owner=other, reason="theirs")


def ids(*tasks: Task) -> list[str]:
    return [str(task.id) for task in tasks]


def flashed(client) -> str:
    """The next page, with the flash message of the last action."""
    return client.get("/tasks").text


def timeline_count() -> int:
    return db.session.scalar(select(func.count()).select_from(TimelineEntry))


def test_bulk_assign_reassigns_the_tasks_and_skips_those_i_may_not_change(
    owner_client, mine, theirs, make_user
):
    colleague = make_user("csm", name="Colleague")
    data = {"task_ids": ids(*mine, theirs), "action": "assign", "owner": str(colleague.id)}
    response = owner_client.post("/tasks/bulk", data=data)
    assert response.status_code == 302
    db.session.expire_all()
    assert [(t.owner_id, t.due_date, t.severity) for t in mine] == [
        (colleague.id, TODAY, "low")
    ] * 2
    assert theirs.owner_id != colleague.id
    assert timeline_count() == 2
    message = "Assigned 2 tasks to Colleague; skipped 1: 1 you may not change."
    assert message in flashed(owner_client)


def test_bulk_snooze_snoozes_each_task_with_the_reason_and_skips_done_ones(owner_client, mine, csm):
    done = TaskFactory(account=mine[0].account, owner=csm, reason="done", status="done")
    until = TODAY + dt.timedelta(days=14)
    data = {
        "task_ids": ids(*mine, done),
        "action": "snooze",
        "until": until.isoformat(),
        "reason": "Budget in May",
    }
    owner_client.post("/tasks/bulk", data=data)
    db.session.expire_all()
    assert [(t.status, t.snoozed_until, t.snooze_reason) for t in mine] == [
        ("snoozed", until, "Budget in May")
    ] * 2
    assert done.status == "done"
    bodies = db.session.scalars(select(TimelineEntry.body)).all()
    assert len(bodies) == 2 and all("Budget in May" in body for body in bodies)
    assert f"Snoozed 2 tasks until {until:%d %b %Y}; skipped 1: 1 already done." in flashed(
        owner_client
    )


def test_bulk_complete_closes_each_task_with_the_outcome(owner_client, mine, theirs):
    owner_client.post(
        "/tasks/bulk",
        data={"task_ids": ids(*mine, theirs), "action": "complete", "outcome": "saved"},
    )
    db.session.expire_all()
    assert [(t.status, t.outcome) for t in mine] == [("done", "saved")] * 2
    assert theirs.status == "open"
    assert timeline_count() == 2
    assert "Closed 2 tasks as saved; skipped 1: 1 you may not change." in flashed(owner_client)


def test_a_bulk_action_on_tasks_i_may_not_change_changes_nothing_and_says_so(owner_client, theirs):
    data = {"task_ids": ids(theirs), "action": "complete", "outcome": "saved"}
    owner_client.post("/tasks/bulk", data=data)
    db.session.expire_all()
    assert theirs.status == "open"
    assert "Closed 0 tasks as saved; skipped 1: 1 you may not change." in flashed(owner_client)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "complete", "outcome": "saved"}, "Tick at least one task."),
        ({"action": "snooze", "until": "", "reason": "x"}, "Pick a date (YYYY-MM-DD)."),
        ({"action": "snooze", "until": "2001-01-01", "reason": "x"}, "Pick a date after today."),
        ({"action": "snooze", "until": "2999-01-01", "reason": "x"}, "at most 180 days"),
        ({"action": "snooze", "until": "", "reason": ""}, "Pick a date"),
        ({"action": "complete", "outcome": "maybe"}, "Pick an outcome."),
        ({"action": "explode"}, "Not a valid choice"),
    ],
)
def test_a_bad_bulk_action_is_refused_with_a_readable_message_and_changes_nothing(
    owner_client, mine, data, message
):
    if "task_ids" not in data and message != "Tick at least one task.":
        data = {**data, "task_ids": ids(*mine)}
    owner_client.post("/tasks/bulk", data=data)
    db.session.expire_all()
    assert [t.status for t in mine] == ["open", "open"]
    page = flashed(owner_client)
    assert "No task was changed" in page and message in page


def test_a_bulk_snooze_needs_a_reason(owner_client, mine):
    until = (TODAY + dt.timedelta(days=3)).isoformat()
    data = {"task_ids": ids(*mine), "action": "snooze", "until": until, "reason": " "}
    owner_client.post("/tasks/bulk", data=data)
    assert "Say why the tasks can wait." in flashed(owner_client)


def test_a_bulk_action_without_a_csrf_token_is_refused(csm, login, mine, csrf_enabled):
    current_app.config["WTF_CSRF_ENABLED"] = False
    client = login(csm)
    current_app.config["WTF_CSRF_ENABLED"] = True
    data = {"task_ids": ids(*mine), "action": "complete", "outcome": "saved"}
    assert client.post("/tasks/bulk", data=data).status_code == 400
    db.session.expire_all()
    assert [t.status for t in mine] == ["open", "open"]


def test_viewers_cannot_use_bulk_actions(make_user, login, mine):
    client = login(make_user("viewer"))
    data = {"task_ids": ids(*mine), "action": "complete", "outcome": "saved"}
    assert client.post("/tasks/bulk", data=data).status_code == 403
    assert "bulk-form" not in client.get("/tasks?scope=team").text


def test_only_the_tasks_i_may_change_get_a_tick_box(owner_client, mine, theirs):
    page = owner_client.get("/tasks?scope=team").text
    assert 'id="bulk-form"' in page
    for task in mine:
        assert f'name="task_ids" value="{task.id}"' in page
    assert f'name="task_ids" value="{theirs.id}"' not in page


def test_names_in_the_bulk_message_are_escaped(owner_client, mine, make_user):
    rogue = make_user("csm", name="<script>alert(1)</script>")
    owner_client.post(
        "/tasks/bulk", data={"task_ids": ids(*mine), "action": "assign", "owner": rogue.id}
    )
    page = flashed(owner_client)
    assert "to &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page


def test_a_bulk_action_returns_to_the_list_it_came_from(owner_client, mine):
    data = {"task_ids": ids(*mine), "action": "complete", "outcome": "saved"}
    response = owner_client.post("/tasks/bulk", data={**data, "next": "/tasks?kind=manual&page=2"})
    assert response.location == "/tasks?kind=manual&page=2"

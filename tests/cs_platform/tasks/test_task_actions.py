"""Tasks: snooze, complete with an outcome, assign, manual tasks, "my tasks", playbooks."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.models import Task, TimelineEntry
from cs_platform.tasks.jobs import wake_snoozed_tasks
from cs_platform.tasks.models import Playbook, TaskStep
from tests.conftest import audit_trail
from tests.factories import AccountFactory, PlaybookFactory, TaskFactory

TODAY = clock.today()


@pytest.fixture
def task(csm):
    return TaskFactory(account=AccountFactory(owner=csm, name="Initech"), owner=csm)


def test_snoozing_hides_the_task_until_a_date_with_a_reason(owner_client, task):
    until = TODAY + dt.timedelta(days=10)
    response = owner_client.post(
        f"/tasks/{task.id}/snooze", data={"until": until.isoformat(), "reason": "Budget in May"}
    )
    assert response.status_code == 302
    db.session.refresh(task)
    assert (task.status, task.snoozed_until, task.snooze_reason) == (
        "snoozed",
        until,
        "Budget in May",
    )
    entry = db.session.scalar(select(TimelineEntry))
    assert "Snoozed" in entry.body and "Budget in May" in entry.body


def test_an_action_returns_to_the_page_it_came_from_but_never_off_site(owner_client, task):
    data = {"outcome": "saved", "next": "/tasks"}
    assert owner_client.post(f"/tasks/{task.id}/complete", data=data).location == "/tasks"
    other = TaskFactory(account=task.account, owner=task.owner, reason="other")
    data = {"outcome": "saved", "next": "https://evil.example.com/"}
    response = owner_client.post(f"/tasks/{other.id}/complete", data=data)
    assert response.location == "/"  # the home page, not the other site


def test_a_snoozed_task_blocks_the_rules_from_opening_the_same_task_again(task):
    task.status, task.snoozed_until = "snoozed", TODAY + dt.timedelta(days=3)
    db.session.commit()
    db.session.add(
        Task(account_id=task.account_id, kind=task.kind, reason=task.reason, title="again")
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_snoozed_tasks_wake_up_when_their_date_comes(task):
    later = TaskFactory(
        account=task.account,
        reason="other",
        status="snoozed",
        snoozed_until=TODAY + dt.timedelta(days=2),
    )
    task.status, task.snoozed_until = "snoozed", TODAY
    db.session.commit()
    wake_snoozed_tasks()
    db.session.expire_all()
    assert task.status == "open"
    assert later.status == "snoozed"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"until": "2001-01-01", "reason": "x"}, "Pick a date after today."),
        ({"until": "2999-01-01", "reason": "x"}, "at most 180 days"),
        ({"until": "", "reason": "x"}, "Pick a date"),
        ({"until": (TODAY + dt.timedelta(3)).isoformat(), "reason": ""}, "Say why the task"),
    ],
)
def test_a_bad_snooze_is_refused_with_a_readable_message(owner_client, task, data, message):
    response = owner_client.post(f"/tasks/{task.id}/snooze", data=data)
    assert response.status_code == 400
    assert message in response.text
    db.session.refresh(task)
    assert task.status == "open"


def test_completing_records_the_outcome_and_a_done_task_stays_done(owner_client, task):
    response = owner_client.post(
        f"/tasks/{task.id}/complete", data={"outcome": "saved", "note": "Renewed for 2 years"}
    )
    assert response.status_code == 302
    db.session.refresh(task)
    assert (task.status, task.outcome) == ("done", "saved")
    assert task.completed_at is not None
    again = owner_client.post(
        f"/tasks/{task.id}/complete", data={"outcome": "churned"}, follow_redirects=True
    )
    assert "already done" in again.text
    db.session.refresh(task)
    assert task.outcome == "saved"


def test_an_unknown_outcome_is_refused(owner_client, task):
    response = owner_client.post(f"/tasks/{task.id}/complete", data={"outcome": "maybe"})
    assert response.status_code == 400
    assert "Not a valid choice" in response.text


def test_another_csm_cannot_snooze_or_complete_by_crafting_a_post(task, make_user, login):
    client = login(make_user("csm", name="Nosy"))
    until = (TODAY + dt.timedelta(days=3)).isoformat()
    assert (
        client.post(f"/tasks/{task.id}/snooze", data={"until": until, "reason": "x"}).status_code
        == 403
    )
    assert client.post(f"/tasks/{task.id}/complete", data={"outcome": "saved"}).status_code == 403
    db.session.refresh(task)
    assert task.status == "open"


def test_the_assignee_may_work_a_task_on_someone_elses_account(make_user, login):
    helper = make_user("csm", name="Helper")
    task = TaskFactory(account=AccountFactory(owner=make_user("csm")), owner=helper)
    response = login(helper).post(f"/tasks/{task.id}/complete", data={"outcome": "not_a_risk"})
    assert response.status_code == 302


def test_viewers_cannot_act_on_tasks(task, make_user, login):
    client = login(make_user("viewer"))
    assert client.post(f"/tasks/{task.id}/complete", data={"outcome": "saved"}).status_code == 403


def test_assigning_changes_owner_due_date_and_priority(owner_client, task, make_user):
    colleague = make_user("csm", name="Colleague")
    due = TODAY + dt.timedelta(days=4)
    response = owner_client.post(
        f"/tasks/{task.id}/assign",
        data={"owner": str(colleague.id), "due": due.isoformat(), "severity": "low"},
    )
    assert response.status_code == 302
    db.session.refresh(task)
    assert (task.owner_id, task.due_date, task.severity) == (colleague.id, due, "low")


def test_the_task_actions_are_offered_only_to_those_who_may_use_them(task, make_user, login):
    client = login(task.owner)
    owner_page = client.get(f"/accounts/{task.account_id}").text
    for action in ("Snooze task", "Complete task", "Save assignment"):
        assert action in owner_page
    client.post("/logout")
    other_page = login(make_user("csm", name="Nosy")).get(f"/accounts/{task.account_id}").text
    assert "Snooze task" not in other_page and "Save assignment" not in other_page


def test_the_owner_adds_a_manual_task(owner_client, csm):
    account = AccountFactory(owner=csm)
    response = owner_client.post(
        f"/accounts/{account.id}/tasks",
        data={"title": "Prepare QBR", "severity": "medium", "due": ""},
    )
    assert response.status_code == 302
    created = db.session.scalar(select(Task))
    assert (created.kind, created.title, created.owner_id) == ("manual", "Prepare QBR", csm.id)
    empty = owner_client.post(f"/accounts/{account.id}/tasks", data={"title": ""})
    assert empty.status_code == 400
    assert "Say what needs doing." in empty.text


def test_my_tasks_lists_my_open_tasks_soonest_due_first(owner_client, csm, make_user):
    account = AccountFactory(owner=csm)
    TaskFactory(
        account=account, owner=csm, title="Later", reason="a", due_date=TODAY + dt.timedelta(9)
    )
    TaskFactory(
        account=account, owner=csm, title="Sooner", reason="b", due_date=TODAY + dt.timedelta(1)
    )
    TaskFactory(account=account, owner=csm, title="Closed", reason="c", status="done")
    TaskFactory(account=AccountFactory(), owner=make_user("csm"), title="Not mine", reason="d")
    page = owner_client.get("/tasks").text
    assert page.index("Sooner") < page.index("Later")
    assert "Closed" not in page and "Not mine" not in page
    assert "Not mine" in owner_client.get("/tasks?scope=team").text


def test_an_overdue_task_says_so(owner_client, csm):
    TaskFactory(account=AccountFactory(owner=csm), owner=csm, due_date=TODAY - dt.timedelta(3))
    assert f"overdue since {TODAY - dt.timedelta(3)}" in owner_client.get("/tasks").text


def test_a_playbook_adds_its_steps_to_a_task_once(owner_client, task):
    playbook = PlaybookFactory(name="Detractor call-back", steps=["Call within 48 h", "Log why"])
    response = owner_client.post(f"/tasks/{task.id}/playbook", data={"playbook": playbook.id})
    assert response.status_code == 302
    steps = db.session.scalars(select(TaskStep).order_by(TaskStep.position)).all()
    assert [step.title for step in steps] == ["Call within 48 h", "Log why"]
    again = owner_client.post(
        f"/tasks/{task.id}/playbook", data={"playbook": playbook.id}, follow_redirects=True
    )
    assert "already on this task" in again.text
    owner_client.post(f"/tasks/{task.id}/steps/{steps[0].id}")
    db.session.refresh(steps[0])
    assert steps[0].done_at is not None
    page = owner_client.get(f"/accounts/{task.account_id}").text
    assert "☑" in page and "Log why" in page


def test_admins_add_playbooks_and_csms_cannot(make_user, login, csm):
    data = {"name": "Renewal prep", "steps": "Confirm decision maker\n\nSend proposal\n"}
    csm_client = login(csm)
    assert csm_client.post("/playbooks", data=data).status_code == 403
    csm_client.post("/logout")
    admin = login(make_user("admin"))
    assert admin.post("/playbooks", data=data).status_code == 302
    playbook = db.session.scalar(select(Playbook))
    assert playbook.steps == ["Confirm decision maker", "Send proposal"]
    duplicate = admin.post("/playbooks", data=data)
    assert duplicate.status_code == 400
    assert "A playbook with this name exists." in duplicate.text
    added = [(e.action, e.target, e.details["changed"]["steps"]) for e in audit_trail()]
    assert added == [("playbook.created", "Renewal prep", [None, playbook.steps])]


def test_the_cli_installs_the_built_in_playbooks_once(runner):
    assert "installed 3 playbook(s)" in runner.invoke(args=["playbooks", "install"]).output
    assert "installed 0 playbook(s)" in runner.invoke(args=["playbooks", "install"]).output
    names = db.session.scalars(select(Playbook.name)).all()
    assert "Detractor call-back" in names

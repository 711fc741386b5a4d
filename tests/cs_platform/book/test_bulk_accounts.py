"""Bulk actions on the accounts ticked on the risk list, and the account list pages: set-wise,
each account permission-checked, the flash saying what was changed and what was skipped."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.models import Account, AccountList, AccountListMember, Task, TimelineEntry, User
from cs_platform.tasks.models import TaskStep
from integrations.models import SupportTicket  # noqa: F401 - registers the table for the app
from tests.conftest import audit_trail
from tests.factories import AccountFactory, PlaybookFactory, TaskFactory

TODAY = clock.today()


@pytest.fixture
def csm(make_user) -> User:
    return make_user("csm", name="Olivia Owner")


@pytest.fixture
def owner_client(csm, login):
    return login(csm)


@pytest.fixture
def mine(csm) -> list[Account]:
    return [AccountFactory(owner=csm, name=f"Mine {n}") for n in range(2)]


@pytest.fixture
def theirs(make_user) -> Account:
    return AccountFactory(owner=make_user("csm", name="Other"), name="Theirs")


def ids(*accounts: Account) -> list[str]:
    return [str(account.id) for account in accounts]


def flashed(client) -> str:
    return client.get("/lists").text


def timeline_bodies() -> list[str]:
    return list(db.session.scalars(select(TimelineEntry.body).order_by(TimelineEntry.id)))


def test_bulk_assign_moves_the_accounts_i_may_edit_and_skips_the_others(
    owner_client, mine, theirs, make_user
):
    colleague = make_user("csm", name="Colleague")
    data = {"account_ids": ids(*mine, theirs), "action": "assign", "owner": str(colleague.id)}
    assert owner_client.post("/accounts/bulk", data=data).status_code == 302
    db.session.expire_all()
    assert [account.owner_id for account in mine] == [colleague.id] * 2
    assert theirs.owner.name == "Other"
    assert timeline_bodies() == ["Owner changed to Colleague (bulk)"] * 2
    assert "Assigned 2 accounts to Colleague; skipped 1: 1 you may not change." in flashed(
        owner_client
    )
    [entry] = audit_trail()
    assert entry.action == "accounts.owner_changed"
    assert entry.details["accounts"] == [account.id for account in mine]


def test_an_admin_assigns_any_account_and_an_unknown_id_is_counted_as_not_found(
    make_user, login, theirs
):
    admin_client = login(make_user("admin", name="Ada Admin"))
    new_owner = make_user("team_lead", name="Lea Lead")
    data = {"account_ids": [str(theirs.id), "999999"], "action": "assign"}
    admin_client.post("/accounts/bulk", data={**data, "owner": str(new_owner.id)})
    db.session.expire_all()
    assert theirs.owner_id == new_owner.id
    assert "Assigned 1 account to Lea Lead; skipped 1: 1 not found." in flashed(admin_client)


def test_a_viewer_may_not_run_bulk_actions(make_user, login, theirs):
    viewer = login(make_user("viewer"))
    data = {"account_ids": ids(theirs), "action": "assign", "owner": str(theirs.owner_id)}
    assert viewer.post("/accounts/bulk", data=data).status_code == 403


def test_a_bulk_action_without_a_csrf_token_is_refused(owner_client, mine, csm, csrf_enabled):
    data = {"account_ids": ids(*mine), "action": "assign", "owner": str(csm.id)}
    assert owner_client.post("/accounts/bulk", data=data).status_code == 400


def test_a_bulk_action_names_what_is_missing(owner_client, mine):
    owner_client.post("/accounts/bulk", data={"account_ids": ids(*mine), "action": "assign"})
    assert "No account was changed: New owner: Pick the new owner." in flashed(owner_client)
    owner_client.post("/accounts/bulk", data={"action": "snooze"})
    assert "No account was changed: Accounts: Tick at least one account." in flashed(owner_client)


def test_applying_a_playbook_opens_a_task_where_none_is_open_and_extends_the_open_one(
    owner_client, mine, csm
):
    playbook = PlaybookFactory(name="Save plan", task_kind="churn_risk", steps=["Call", "Plan"])
    existing = TaskFactory(account=mine[0], kind="churn_risk", reason="p_churn_90d", owner=csm)
    db.session.add(TaskStep(task_id=existing.id, position=0, title="Own step"))
    db.session.commit()
    data = {"account_ids": ids(*mine), "action": "playbook", "playbook": str(playbook.id)}
    owner_client.post("/accounts/bulk", data=data)
    db.session.expire_all()
    tasks = db.session.scalars(select(Task).order_by(Task.id)).all()
    assert [(t.account_id, t.kind, t.title) for t in tasks[1:]] == [
        (mine[1].id, "churn_risk", "Save plan")
    ]
    steps = db.session.execute(
        select(TaskStep.task_id, TaskStep.position, TaskStep.title).order_by(
            TaskStep.task_id, TaskStep.position
        )
    ).all()
    assert steps == [
        (existing.id, 0, "Own step"),
        (existing.id, 1, "Call"),
        (existing.id, 2, "Plan"),
        (tasks[1].id, 0, "Call"),
        (tasks[1].id, 1, "Plan"),
    ]
    assert "Applied “Save plan” on 2 accounts." in flashed(owner_client)
    owner_client.post("/accounts/bulk", data=data)
    assert "skipped 2: 2 already on the playbook" in flashed(owner_client)
    assert db.session.scalar(select(func.count()).select_from(TaskStep)) == 5


def test_snoozing_snoozes_the_open_risk_tasks_and_skips_accounts_without_one(
    owner_client, mine, theirs
):
    risk_task = TaskFactory(account=mine[0], kind="churn_risk", reason="p", title="At risk")
    renewal = TaskFactory(account=mine[0], kind="renewal", reason="r")
    other = TaskFactory(account=theirs, kind="health_drop", reason="h")
    until = TODAY + dt.timedelta(days=14)
    data = {
        "account_ids": ids(*mine, theirs),
        "action": "snooze",
        "until": until.isoformat(),
        "reason": "Budget in May",
    }
    owner_client.post("/accounts/bulk", data=data)
    db.session.expire_all()
    assert (risk_task.status, risk_task.snoozed_until, risk_task.snooze_reason) == (
        "snoozed",
        until,
        "Budget in May",
    )
    assert renewal.status == "open" and other.status == "open"
    assert timeline_bodies() == [f"Snoozed “At risk” until {until.isoformat()}: Budget in May"]
    message = (
        f"Snoozed the risk tasks of 1 account until {until}; skipped 2: "
        "1 you may not change, 1 without an open risk task."
    )
    assert message in flashed(owner_client)


def test_a_snooze_date_in_the_past_is_refused(owner_client, mine):
    data = {"account_ids": ids(*mine), "action": "snooze", "until": TODAY.isoformat()}
    owner_client.post("/accounts/bulk", data={**data, "reason": "x"})
    assert "Snooze until: Pick a date after today." in flashed(owner_client)


def test_accounts_go_on_a_new_list_then_an_existing_one_and_come_off_it(owner_client, mine, theirs):
    data = {"account_ids": ids(*mine, theirs), "action": "list", "new_list": "Q1 targets"}
    owner_client.post("/accounts/bulk", data=data)
    account_list = db.session.scalar(select(AccountList))
    assert account_list.name == "Q1 targets"
    members = db.session.execute(select(AccountListMember.account_id, AccountListMember.added_by))
    assert sorted(members) == [(mine[0].id, "Olivia Owner"), (mine[1].id, "Olivia Owner")]
    page = flashed(owner_client)
    assert "Added 2 accounts to “Q1 targets”; skipped 1: 1 you may not change." in page
    assert "Q1 targets" in page and '<td class="num">2</td>' in page
    again = {"account_ids": ids(mine[0]), "action": "list", "list_id": str(account_list.id)}
    owner_client.post("/accounts/bulk", data=again)
    assert "skipped 1: 1 already on the list" in flashed(owner_client)
    detail = owner_client.get(f"/lists/{account_list.id}").text
    assert "Mine 0" in detail and "Mine 1" in detail and "Theirs" not in detail
    filtered = owner_client.get(f"/?list={account_list.id}&view=all").text
    assert "Mine 0" in filtered and "Theirs" not in filtered
    owner_client.post(f"/lists/{account_list.id}/remove", data={"account_ids": ids(mine[0])})
    assert db.session.scalars(select(AccountListMember.account_id)).all() == [mine[1].id]
    assert "Removed 1 account from “Q1 targets”." in owner_client.get("/lists").text


def test_the_risk_list_offers_row_boxes_and_the_bulk_form_to_editors_only(
    owner_client, mine, make_user, login
):
    page = owner_client.get("/?view=all").text
    assert 'id="bulk-form"' in page and 'name="account_ids"' in page
    assert "select-all.js" in page

"""Team leads work their team's book, and anyone claims an open task with one click: the first
of two concurrent claims wins."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import Task, TimelineEntry, User
from cs_platform.tasks import services
from integrations.models import SupportTicket  # noqa: F401 - registers the table for the app
from tests.cs_platform.accounts.workspace_data import signed_in
from tests.factories import AccountFactory, TaskFactory


@pytest.fixture
def lead(make_user) -> User:
    return make_user("team_lead", name="Lea Lead")


@pytest.fixture
def member(make_user, lead) -> User:
    user = make_user("csm", name="Mo Member")
    user.team_lead_id = lead.id
    db.session.commit()
    return user


@pytest.fixture
def outsider(make_user) -> User:
    return make_user("csm", name="Otto Outsider")


def claim(client, task: Task, seen: User | None):
    data = {"seen_owner": str(seen.id) if seen else ""}
    return client.post(f"/tasks/{task.id}/claim", data=data)


def test_a_team_lead_sees_their_teams_book_under_my_team(lead, member, outsider, login):
    AccountFactory(owner=member, name="Member Co")
    AccountFactory(owner=lead, name="Lead Co")
    AccountFactory(owner=outsider, name="Outside Co")
    page = login(lead).get("/?owner=team&view=all").text
    assert "Member Co" in page and "Lead Co" in page and "Outside Co" not in page
    assert '<option value="team" selected>My team</option>' in page


def test_a_team_lead_edits_their_teams_accounts_and_tasks_but_no_others(
    lead, member, outsider, login
):
    client = login(lead)
    team_account = AccountFactory(owner=member)
    outside = AccountFactory(owner=outsider)
    assert client.post(f"/accounts/{team_account.id}/notes", data={"body": "Hi"}).status_code == 302
    assert client.post(f"/accounts/{outside.id}/notes", data={"body": "Hi"}).status_code == 403
    members_task = TaskFactory(account=outside, owner=member, reason="m")
    assert services.can_edit_task(lead, members_task)
    assert not services.can_edit_task(lead, TaskFactory(account=outside, owner=outsider))


def test_a_team_lead_bulk_assigns_their_teams_accounts_only(lead, member, outsider, login):
    team_account, outside = AccountFactory(owner=member), AccountFactory(owner=outsider)
    data = {
        "account_ids": [str(team_account.id), str(outside.id)],
        "action": "assign",
        "owner": str(lead.id),
    }
    login(lead).post("/accounts/bulk", data=data)
    db.session.expire_all()
    assert (team_account.owner_id, outside.owner_id) == (lead.id, outsider.id)


def test_an_unassigned_task_on_my_account_is_mine_with_one_click_and_logged(member, login):
    task = TaskFactory(account=AccountFactory(owner=member), owner=None, title="Call them")
    client = login(member)
    assert 'aria-label="Claim “Call them”"' in client.get(f"/accounts/{task.account_id}").text
    assert claim(client, task, None).status_code == 302
    db.session.expire_all()
    assert task.owner_id == member.id
    body = db.session.scalar(select(TimelineEntry.body))
    assert body == "Claimed “Call them” (it was unassigned)"


def test_a_csm_claims_a_teammates_task_but_not_an_outsiders(make_user, lead, member, outsider, app):
    mate = make_user("csm", name="Tess Mate")
    mate.team_lead_id = lead.id
    db.session.commit()
    mates_task = TaskFactory(account=AccountFactory(owner=mate), owner=mate, reason="a")
    outsiders_task = TaskFactory(account=AccountFactory(owner=outsider), owner=outsider)
    client = signed_in(app, member)
    assert claim(client, mates_task, mate).status_code == 302
    assert claim(client, outsiders_task, outsider).status_code == 403
    db.session.expire_all()
    assert (mates_task.owner_id, outsiders_task.owner_id) == (member.id, outsider.id)


def test_a_csm_may_not_claim_an_unassigned_task_on_an_account_outside_their_team(
    member, outsider, login
):
    task = TaskFactory(account=AccountFactory(owner=outsider), owner=None)
    assert claim(login(member), task, None).status_code == 403


def test_a_team_lead_claims_any_task_of_their_team(lead, member, login):
    task = TaskFactory(account=AccountFactory(owner=member), owner=member)
    claim(login(lead), task, member)
    db.session.expire_all()
    assert task.owner_id == lead.id


def test_of_two_claims_of_the_same_task_the_first_wins_and_the_second_is_told(
    app, lead, member, make_user
):
    mate = make_user("csm", name="Tess Mate")
    mate.team_lead_id = lead.id
    db.session.commit()
    task = TaskFactory(account=AccountFactory(owner=None), owner=None)
    first, second = signed_in(app, member), signed_in(app, mate)
    assert claim(first, task, None).status_code == 302
    assert claim(second, task, None).status_code == 302  # seen: nobody; now Mo's
    db.session.expire_all()
    assert task.owner_id == member.id
    assert "someone was quicker, it is now Mo Member&#39;s." in second.get("/tasks").text


def test_the_conditional_update_refuses_a_claim_whose_seen_owner_is_stale(member, lead):
    task = TaskFactory(account=AccountFactory(owner=member), owner=member)
    assert not services.claim(task, lead, None)
    assert services.claim(task, lead, member.id)
    assert task.owner_id == lead.id


def test_a_claim_without_a_csrf_token_is_refused(app, member, login, csrf_enabled):
    task = TaskFactory(account=AccountFactory(owner=member), owner=None)
    app.config["WTF_CSRF_ENABLED"] = False
    client = login(member)
    app.config["WTF_CSRF_ENABLED"] = True
    assert claim(client, task, None).status_code == 400
    db.session.expire_all()
    assert task.owner_id is None

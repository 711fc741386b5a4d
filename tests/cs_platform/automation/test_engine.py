"""Running rules: once per episode, steps in order, waits and branches, the share limit, the log
on each account, and a failing rule that leaves the others be."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from cs_platform.automation.engine import run_rules
from cs_platform.automation.models import Rule, RuleMatch, RuleRun, RuleWait
from cs_platform.extensions import db
from cs_platform.models import (
    Account,
    AccountList,
    AccountListMember,
    AccountTrait,
    Task,
    TimelineEntry,
    TraitDefinition,
)
from cs_platform.outbox import OutboxMessage
from cs_platform.tasks.models import TaskStep
from cs_platform.webhooks.models import WebhookEvent
from tests.factories import HealthScoreFactory, PlaybookFactory

RED = {"type": "band_entered", "band": "red"}


def call_task(**values) -> dict:
    return {"action": "open_task", "title": "Call the sponsor", **values}


def tasks_of(account: Account) -> list[Task]:
    db.session.expire_all()
    return list(db.session.scalars(select(Task).where(Task.account_id == account.id)))


def test_an_account_entering_red_gets_one_task_for_its_owner_and_a_logged_run(
    scored, rule, make_user
):
    owner = make_user("csm", name="Olivia Owner")
    turned = scored(30, before=55, owner=owner)
    scored(30, before=35)  # red both days: it did not enter red today
    scored(80, before=30)  # left red
    saved = rule({"trigger": RED, "steps": [call_task(due_in_days=2, severity="high")]})
    summary = run_rules()
    assert summary.fired == {saved.name: 1}
    [task] = tasks_of(turned)
    assert (task.kind, task.owner_id, task.severity, task.reason) == (
        "rule",
        owner.id,
        "high",
        f"rule-{saved.id}-step-0",
    )
    [run] = db.session.scalars(select(RuleRun)).all()
    assert run.account_id == turned.id and run.reason == "entered the red band (score 30)"
    assert run.actions == [f"opened task “Call the sponsor” due {task.due_date.isoformat()}"]
    body = db.session.scalar(select(TimelineEntry.body).where(TimelineEntry.kind == "automation"))
    assert body.startswith("Rule “Red accounts get a call”: entered the red band")


def test_a_rule_acts_once_per_episode_and_again_after_the_account_left_and_came_back(
    scored, rule, today
):
    account = scored(30, before=55)
    rule(
        {
            "trigger": {"type": "churn_risk_above", "probability": 0.5},
            "steps": [{"action": "webhook"}],
        }
    )
    from tests.factories import ChurnRiskFactory

    risk = ChurnRiskFactory(account=account, scored_on=today, p_churn_before_renewal=0.7)
    assert (
        run_rules().fired and not run_rules().fired
    )  # the second run: still matching, nothing new
    risk.p_churn_before_renewal = 0.2
    db.session.commit()
    run_rules()
    assert db.session.scalars(select(RuleMatch)).all() == []  # it left
    risk.p_churn_before_renewal = 0.8
    db.session.commit()
    assert sum(run_rules().fired.values()) == 1
    db.session.expire_all()
    events = db.session.scalars(
        select(WebhookEvent).where(WebhookEvent.event_type == "automation.rule_fired")
    ).all()
    assert len(events) == 2, [e.message_id for e in events]


def test_a_task_still_open_from_the_last_episode_is_not_opened_twice(scored, rule, today):
    account = scored(30, before=55)
    saved = rule({"trigger": RED, "steps": [call_task()]})
    run_rules()
    db.session.execute(RuleMatch.__table__.delete())  # as if it had left red and come back
    db.session.commit()
    run_rules()
    assert len(tasks_of(account)) == 1
    runs = db.session.scalars(select(RuleRun).order_by(RuleRun.id)).all()
    assert runs[-1].actions == ["task “Call the sponsor” already open"]
    assert saved.id


def test_the_task_gets_the_playbooks_steps_and_can_go_to_the_team_lead(scored, rule, make_user):
    lead = make_user("team_lead", name="Lee Lead")
    owner = make_user("csm")
    owner.team_lead_id = lead.id
    db.session.commit()
    account = scored(30, before=55, owner=owner)
    PlaybookFactory(name="Save plan", steps=["Review drivers", "Call sponsor"])
    rule({"trigger": RED, "steps": [call_task(playbook="Save plan", assignee="team_lead")]})
    run_rules()
    [task] = tasks_of(account)
    assert task.owner_id == lead.id
    steps = db.session.scalars(
        select(TaskStep.title).where(TaskStep.task_id == task.id).order_by(TaskStep.position)
    )
    assert list(steps) == ["Review drivers", "Call sponsor"]


def test_notify_alerts_the_owner_with_why_and_says_so_when_there_is_nobody(scored, rule, make_user):
    owner = make_user("csm")
    owned = scored(30, before=55, owner=owner, name="Acme Robotics")
    orphan = scored(30, before=55)
    rule(
        {
            "trigger": RED,
            "steps": [{"action": "notify", "message": "Turned red", "channels": ["slack"]}],
        }
    )
    run_rules()
    [message] = db.session.scalars(select(OutboxMessage)).all()
    assert message.kind == "alert_email"  # no Slack URL set: the alert falls back to email
    payload = message.payload
    assert (payload["user_id"], payload["account_id"], payload["account_name"]) == (
        owner.id,
        owned.id,
        "Acme Robotics",
    )
    assert (
        payload["reason"]
        == "Turned red: entered the red band (score 30) (rule “Red accounts get a call”)"
    )
    owned_run = db.session.scalar(select(RuleRun).where(RuleRun.account_id == owned.id))
    assert owned_run.actions == ["notified Casey Morgan"]
    orphan_run = db.session.scalar(select(RuleRun).where(RuleRun.account_id == orphan.id))
    assert orphan_run.actions == ["nobody to notify (owner unset)"]


def test_fields_traits_and_lists_are_set_on_every_account_it_acts_on(scored, rule):
    accounts = [scored(30, before=55), scored(25, before=60)]
    rule(
        {
            "trigger": RED,
            "steps": [
                {"action": "set_field", "field": "lifecycle_stage", "value": "renewing"},
                {"action": "set_trait", "key": "save_play", "value": "active"},
                {"action": "add_to_list", "list": "Save plays"},
            ],
        }
    )
    run_rules()
    db.session.expire_all()
    assert {a.lifecycle_stage for a in accounts} == {"renewing"}
    traits = db.session.scalars(select(AccountTrait).where(AccountTrait.key == "save_play")).all()
    assert {(t.account_id, t.value) for t in traits} == {(a.id, "active") for a in accounts}
    [listed] = db.session.scalars(select(AccountList)).all()
    members = db.session.scalars(
        select(AccountListMember.account_id).where(AccountListMember.list_id == listed.id)
    )
    assert set(members) == {a.id for a in accounts}


def escalation(band_check: dict) -> dict:
    return {
        "trigger": RED,
        "steps": [
            call_task(),
            {"wait_days": 7},
            {
                "if": [band_check],
                "then": [call_task(title="Escalated: still red", assignee="team_lead")],
                "else": [{"action": "add_to_list", "list": "Recovered"}],
            },
        ],
    }


@pytest.mark.parametrize("later", [(20, True), (75, False)], ids=["still red", "recovered"])
def test_after_a_wait_the_branch_rechecks_the_band_then(
    scored, rule, today, owner_with_lead, later
):
    score_later, escalated = later
    account = scored(30, before=55, owner=owner_with_lead)
    rule(escalation({"field": "band", "op": "eq", "value": "red"}))
    run_rules()
    [wait] = db.session.scalars(select(RuleWait)).all()
    assert wait.path == "2" and wait.account_id == account.id
    assert not run_rules(wait.due_at - dt.timedelta(minutes=1)).resumed  # not yet due
    HealthScoreFactory(account=account, scored_on=today + dt.timedelta(days=7), score=score_later)
    assert run_rules(wait.due_at).resumed == 1
    titles = {task.title for task in tasks_of(account)}
    assert ("Escalated: still red" in titles) is escalated
    on_list = db.session.scalar(select(AccountListMember.account_id))
    assert (on_list == account.id) is (not escalated)
    assert db.session.scalars(select(RuleWait)).all() == []


def test_waits_go_on_with_the_version_that_started_them(scored, rule, admin):
    from cs_platform.automation.services import save_rule

    account = scored(30, before=55)
    saved = rule(
        {
            "trigger": RED,
            "steps": [call_task(), {"wait_days": 1}, {"action": "add_to_list", "list": "v1"}],
        }
    )
    run_rules()
    save_rule(
        saved,
        saved.name,
        {
            "trigger": RED,
            "steps": [call_task(), {"wait_days": 1}, {"action": "add_to_list", "list": "v2"}],
        },
        admin,
        confirmed=True,
    )
    db.session.commit()
    wait = db.session.scalar(select(RuleWait))
    run_rules(wait.due_at)
    assert db.session.scalar(select(AccountList.name)) == "v1"
    assert account.id == db.session.scalar(select(AccountListMember.account_id))


def test_a_rule_about_to_act_on_too_much_of_the_book_is_paused_and_acts_on_none(
    scored, rule, app, monkeypatch
):
    saved = rule({"trigger": RED, "steps": [call_task()]})
    monkeypatch.setitem(app.config, "AUTOMATION_CONFIRM_PERCENT", 10)
    accounts = [scored(30, before=55) for _ in range(3)] + [scored(80, before=80) for _ in range(7)]
    summary = run_rules()
    assert summary.paused == [saved.name] and not summary.fired
    db.session.expire_all()
    assert (
        "would have acted on 3 accounts at once (limit 1)"
        in db.session.get(Rule, saved.id).paused_reason
    )
    assert all(tasks_of(account) == [] for account in accounts)
    assert not run_rules().fired  # paused rules do not run


def test_a_failing_rule_is_rolled_back_and_the_others_still_run(scored, rule):
    account = scored(30, before=55)
    db.session.add(TraitDefinition(key="tier", label="Tier", type="string"))
    db.session.commit()
    broken = rule(
        {
            "trigger": RED,
            "conditions": [{"field": "trait", "op": "matches", "value": "tier:gold"}],
            "steps": [call_task()],
        },
        name="Broken",
    )
    db.session.delete(db.session.get(TraitDefinition, "tier"))  # its condition now names no trait
    db.session.commit()
    working = rule(
        {"trigger": RED, "steps": [{"action": "add_to_list", "list": "Red"}]}, name="Working"
    )
    summary = run_rules()
    assert summary.failed == [broken.name] and summary.fired == {working.name: 1}
    assert tasks_of(account) == []
    assert db.session.scalars(select(RuleMatch.rule_id)).all() == [working.id]


def test_a_switched_off_rule_does_not_run_and_its_waits_end(scored, rule, admin):
    from cs_platform.automation.services import set_enabled

    scored(30, before=55)
    saved = rule({"trigger": RED, "steps": [call_task(), {"wait_days": 1}, {"action": "webhook"}]})
    run_rules()
    set_enabled(saved, False, admin)
    db.session.commit()
    wait = db.session.scalar(select(RuleWait))
    summary = run_rules(wait.due_at)
    assert not summary.fired and summary.resumed == 0
    assert db.session.scalars(select(RuleWait)).all() == []

"""The rule pages: an admin builds a rule in the editor, dry-runs it, saves it (versioned and
audited), is asked to confirm a rule that would act on much of the book, and reads its run log;
others are kept out."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cs_platform.automation.engine import run_rules
from cs_platform.automation.models import Rule, RuleVersion
from cs_platform.extensions import db
from tests.conftest import audit_trail

FORM = {
    "name": "Red enterprise accounts",
    "enabled": "y",
    "trigger": "band_entered",
    "band": "red",
    "segments": ["enterprise"],
    "task_title": "Call the executive sponsor",
    "task_due_days": "2",
    "task_assignee": "owner",
    "task_severity": "high",
    "notify_message": "Turned red",
    "notify_recipients": "owner",
    "wait_days": "7",
    "still_band": "red",
    "escalate_message": "Still red after a week",
}


@pytest.fixture
def admin_client(admin, login):
    return login(admin)


def test_an_admin_dry_runs_a_rule_then_saves_it_as_version_one(admin_client, scored):
    red = scored(30, before=55, segment="enterprise", name="Acme Robotics")
    scored(30, before=55, segment="smb", name="Tiny Shop")
    page = admin_client.post("/automation/rules/new", data={**FORM, "do": "dry_run"})
    assert page.status_code == 200
    assert "it would act on 1 account today" in page.text
    assert "Acme Robotics" in page.text and "entered the red band (score 30)" in page.text
    assert "Tiny Shop" not in page.text
    assert db.session.scalars(select(Rule)).all() == []  # a dry run saves nothing
    saved = admin_client.post("/automation/rules/new", data={**FORM, "do": "save"})
    assert saved.status_code == 302
    rule = db.session.scalar(select(Rule))
    assert rule.version == 1 and rule.definition["trigger"] == {
        "type": "band_entered",
        "band": "red",
    }
    kinds = [step.get("action") or next(iter(step)) for step in rule.definition["steps"]]
    assert kinds == ["open_task", "notify", "wait_days", "if"]
    [entry] = [e for e in audit_trail() if e.action == "automation.rule_saved"]
    assert entry.details["acts_on_now"] == 1
    assert red.id


def test_the_editor_shows_a_saved_rule_and_saving_it_again_makes_version_two(admin_client):
    admin_client.post("/automation/rules/new", data={**FORM, "do": "save"})
    rule = db.session.scalar(select(Rule))
    page = admin_client.get(f"/automation/rules/{rule.id}/edit")
    assert 'value="Call the executive sponsor"' in page.text
    assert 'value="Still red after a week"' in page.text
    admin_client.post(
        f"/automation/rules/{rule.id}/edit", data={**FORM, "task_title": "Call today", "do": "save"}
    )
    versions = db.session.scalars(select(RuleVersion.version).where(RuleVersion.rule_id == rule.id))
    assert sorted(versions) == [1, 2]
    db.session.expire_all()
    assert rule.definition["steps"][0]["title"] == "Call today"


def test_a_trigger_missing_its_figure_is_refused_naming_it(admin_client):
    page = admin_client.post(
        "/automation/rules/new", data={**FORM, "trigger": "score_drop", "days": "7", "do": "save"}
    )
    assert page.status_code == 400
    assert "trigger.points" in page.text and "Required for this trigger." in page.text


def test_a_trait_condition_naming_no_trait_is_refused_with_the_trait(admin_client):
    page = admin_client.post(
        "/automation/rules/new", data={**FORM, "traits": "tier:gold", "do": "save"}
    )
    assert page.status_code == 400
    assert "no trait &#39;tier&#39; is defined" in page.text


def test_a_rule_acting_on_much_of_the_book_asks_for_confirmation_first(
    admin_client, scored, app, monkeypatch
):
    monkeypatch.setitem(app.config, "AUTOMATION_CONFIRM_PERCENT", 10)
    for _ in range(4):
        scored(30, before=55, segment="enterprise")
    for _ in range(6):
        scored(80, before=80)
    asked = admin_client.post("/automation/rules/new", data={**FORM, "do": "save"})
    assert asked.status_code == 409
    assert "would act on 4 accounts today (40% of the live book" in asked.text
    assert db.session.scalars(select(Rule)).all() == []
    admin_client.post("/automation/rules/new", data={**FORM, "confirm": "y", "do": "save"})
    rule = db.session.scalar(select(Rule))
    assert rule.confirmed_accounts == 5
    assert sum(run_rules().fired.values()) == 4  # confirmed: the run is not paused


def test_the_rule_page_shows_its_run_log_and_can_switch_it_off(admin_client, scored):
    scored(30, before=55, segment="enterprise", name="Acme Robotics")
    admin_client.post("/automation/rules/new", data={**FORM, "do": "save"})
    run_rules()
    rule = db.session.scalar(select(Rule))
    page = admin_client.get(f"/automation/rules/{rule.id}")
    assert "Acme Robotics" in page.text
    assert "opened task “Call the executive sponsor”" in page.text and "waiting 7 days" in page.text
    assert "Open a task “Call the executive sponsor” for the owner, due in 2 days" in page.text
    admin_client.post(f"/automation/rules/{rule.id}/toggle")
    db.session.expire_all()
    assert rule.enabled is False
    assert [e.action for e in audit_trail()][-1] == "automation.rule_disabled"


def test_a_rule_saved_from_json_that_the_editor_cannot_show_says_so(admin_client, rule):
    saved = rule(
        {
            "trigger": {"type": "renewal_within", "days": 30},
            "steps": [
                {"action": "webhook"},
                {"wait_days": 1},
                {"action": "webhook"},
                {"action": "webhook"},
            ],
        }
    )
    page = admin_client.get(f"/automation/rules/{saved.id}/edit")
    assert "steps the editor cannot show" in page.text


@pytest.mark.parametrize(
    ("role", "list_status", "new_status"),
    [("csm", 403, 403), ("viewer", 403, 403), ("team_lead", 200, 403)],
)
def test_only_admins_edit_rules_and_team_leads_may_read_them(
    make_user, login, role, list_status, new_status
):
    client = login(make_user(role))
    assert client.get("/automation/rules").status_code == list_status
    assert client.get("/automation/rules/new").status_code == new_status


def test_saving_a_rule_needs_the_csrf_token(admin_client, csrf_enabled):
    assert (
        admin_client.post("/automation/rules/new", data={**FORM, "do": "save"}).status_code == 400
    )
    assert db.session.scalars(select(Rule)).all() == []

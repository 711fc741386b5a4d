"""One account's page: charts, drivers, usage, tickets, answers, timeline, and the edits on it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select

from cs_platform import clock, driver_reads
from cs_platform.extensions import db
from cs_platform.models import AccountTrait, TimelineEntry, TraitDefinition
from cs_platform.tasks.models import Playbook
from integrations.models import SupportTicket, UsageDaily
from scoring.models import BandOverride
from surveys.models import Survey, SurveyResponse
from tests.conftest import audit_trail
from tests.cs_platform.accounts.workspace_data import scored_account
from tests.factories import (
    AccountFactory,
    BandOverrideFactory,
    ContactFactory,
    HealthScoreFactory,
    TaskFactory,
    TimelineEntryFactory,
)


@pytest.fixture
def csm(make_user):
    return make_user("csm", name="Olivia Owner")


@pytest.fixture
def owner_client(csm, login):
    return login(csm)


def test_the_account_page_shows_charts_drivers_and_risk(csm_client):
    account = scored_account(
        "Initech", score=25, p_churn=0.42, renewal_date=clock.today() + dt.timedelta(days=120)
    )
    page = csm_client.get(f"/accounts/{account.id}").text
    assert "Health score history" in page
    # the learned model's band thresholds (HEALTH_MODEL_*) are labelled in the chart
    assert "Red &lt; 33" in page and "Green ≥ 50" in page
    # risk rises upward, and the title says what is plotted
    assert "probability the account has churned by each month" in page
    assert "Renewal " in page  # the renewal date marker
    assert "Initech d1" in page and "third" in page  # every driver is explained
    assert "▲ raises risk" in page
    assert "42%" in page


def test_the_account_page_shows_contacts_tickets_usage_and_timeline(csm_client):
    account = AccountFactory(name="Initech", seats=50)
    ContactFactory(account=account, name="Peter Gibbons", role="champion")
    today = clock.today()
    db.session.add_all(
        [
            UsageDaily(
                account_id=account.id,
                day=today - dt.timedelta(days=d),
                active_users=20 if d < 30 else 40,
            )
            for d in range(60)
        ]
        + [
            SupportTicket(
                account_id=account.id,
                source="zendesk",
                external_id="77",
                subject="TPS reports fail",
                status="open",
                priority="urgent",
                created_at=clock.utcnow() - dt.timedelta(days=3),
                updated_at=clock.utcnow(),
                satisfaction="bad",
            )
        ]
    )
    db.session.commit()
    TimelineEntryFactory(account=account, body="Kick-off call done")
    page = csm_client.get(f"/accounts/{account.id}").text
    assert "Peter Gibbons" in page
    assert "TPS reports fail" in page
    assert "0% good" in page
    assert "-50%" in page  # active users halved
    assert "Seat utilisation: daily active users as % of 50 seats" in page
    assert "Kick-off call done" in page


def test_the_account_page_reads_the_account_and_its_facts_in_one_statement(csm_client, monkeypatch):
    account = scored_account("Globex", days=3)
    BandOverrideFactory(account=account, band="green", reason="Exec sponsor signed")
    ContactFactory(account=account, name="Hank Scorpio")
    TimelineEntryFactory(account=account, body="QBR booked")
    db.session.add(UsageDaily(account_id=account.id, day=clock.today(), active_users=7))
    db.session.commit()
    path = f"/accounts/{account.id}"
    run: list[str] = []
    record = lambda _conn, _cursor, statement, *_: run.append(statement)  # noqa: E731
    fetched = driver_reads.fetched
    direct: list[str] = []
    monkeypatch.setattr(
        driver_reads,
        "fetched",
        lambda engine, cursor, sql, *rest: (
            direct.append(sql) or fetched(engine, cursor, sql, *rest)
        ),
    )
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        page = csm_client.get(path).text
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert "Exec sponsor signed" in page and "Hank Scorpio" in page and "QBR booked" in page
    # The user; the account with its latest score, churn risk, override, ticket counts, last
    # day of usage and traits flag; then points, usage, tasks, tickets, answers, timeline and
    # contacts: no traits to read, no per-fact statement. On PostgreSQL what is only shown
    # (points, usage, tickets, answers, timeline, contacts) is read straight from the driver.
    assert len(run + direct) == 9, "\n".join(s[:50] for s in run + direct)
    assert len(direct) == (6 if db.engine.dialect.name == "postgresql" else 0)


def test_survey_comments_are_escaped_everywhere(csm_client):
    account = AccountFactory(name="<b>Bold</b> Inc")
    survey = Survey(name="NPS", kind="nps")
    db.session.add(survey)
    db.session.flush()
    db.session.add(
        SurveyResponse(
            survey_id=survey.id,
            account_id=account.id,
            kind="nps",
            score=2,
            comment="<img src=x onerror=alert(1)>",
        )
    )
    db.session.commit()
    page = csm_client.get(f"/accounts/{account.id}").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>Bold</b>" not in page


def test_the_account_page_lists_custom_traits_by_label_and_type_escaped(csm_client):
    account = AccountFactory()
    db.session.add_all(
        [
            TraitDefinition(key="licences", label="Licences bought", type="number"),
            TraitDefinition(key="sso", label="SSO", type="boolean"),
            TraitDefinition(key="tier", label="<i>Tier</i>", type="string"),
        ]
    )
    account.traits = [
        AccountTrait(key="licences", value_number=1250.0),
        AccountTrait(key="sso", value_bool=False),
        AccountTrait(key="tier", value_text="<script>gold</script>"),
    ]
    db.session.commit()

    page = csm_client.get(f"/accounts/{account.id}").text

    section = page[page.index('id="traits"') :]
    assert "Licences bought</th>" in section and "<td>1,250</td>" in section
    assert "SSO</th>" in section and "<td>No</td>" in section
    assert "&lt;i&gt;Tier&lt;/i&gt;" in section and "&lt;script&gt;gold" in section
    assert "<script>gold" not in page


def test_an_account_without_traits_says_how_they_are_set(csm_client):
    page = csm_client.get(f"/accounts/{AccountFactory().id}").text

    assert "No custom traits." in page


def test_a_missing_account_is_a_readable_404(csm_client):
    response = csm_client.get("/accounts/999999")
    assert response.status_code == 404
    assert "Back to accounts" in response.text


def test_the_owner_adds_a_note_to_the_timeline(owner_client, csm):
    account = AccountFactory(owner=csm)
    response = owner_client.post(f"/accounts/{account.id}/notes", data={"body": "Sent QBR deck"})
    assert response.status_code == 302
    note = db.session.scalar(select(TimelineEntry).where(TimelineEntry.account_id == account.id))
    assert note.body == "Sent QBR deck"
    assert note.author_id == csm.id


def test_an_empty_note_is_refused_with_a_message(owner_client, csm):
    account = AccountFactory(owner=csm)
    response = owner_client.post(f"/accounts/{account.id}/notes", data={"body": ""})
    assert response.status_code == 400
    assert "A note needs some text." in response.text


def test_the_owner_logs_an_outreach(owner_client, csm):
    account = AccountFactory(owner=csm)
    response = owner_client.post(
        f"/accounts/{account.id}/outreach",
        data={"channel": "call", "contact": "Peter", "summary": "Agreed a rollout plan"},
    )
    assert response.status_code == 302
    entry = db.session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "outreach"))
    assert entry.body == "Call with Peter: Agreed a rollout plan"
    bad = owner_client.post(f"/accounts/{account.id}/outreach", data={"channel": "fax"})
    assert bad.status_code == 400
    assert "Say briefly what was discussed." in bad.text


def test_the_owner_overrides_the_band_and_the_model_band_stays_beside_it(owner_client, csm):
    account = scored_account("Override Me", score=30, owner=csm)
    until = clock.today() + dt.timedelta(days=14)
    response = owner_client.post(
        f"/accounts/{account.id}/override",
        data={"band": "green", "reason": "Signed the renewal early", "expires_on": until},
    )
    assert response.status_code == 302
    override = db.session.scalar(select(BandOverride))
    assert (override.band, override.expires_on, override.created_by_id) == ("green", until, csm.id)
    page = owner_client.get(f"/accounts/{account.id}").text
    assert "Green (override)" in page and "model: Red" in page
    assert "Signed the renewal early" in page


def test_a_new_override_ends_the_previous_one_and_clearing_ends_it(owner_client, csm):
    account = scored_account("Twice", owner=csm)
    first = BandOverrideFactory(account=account, band="red")
    until = (clock.today() + dt.timedelta(days=5)).isoformat()
    data = {"band": "yellow", "reason": "Second thoughts", "expires_on": until}
    owner_client.post(f"/accounts/{account.id}/override", data=data)
    db.session.refresh(first)
    assert first.ended_at is not None
    owner_client.post(f"/accounts/{account.id}/override/clear")
    live = db.session.scalars(select(BandOverride).where(BandOverride.ended_at.is_(None))).all()
    assert live == []


def test_setting_and_clearing_an_override_each_leave_an_audit_entry(owner_client, csm):
    account = scored_account("Audited", owner=csm)
    until = clock.today() + dt.timedelta(days=5)
    data = {"band": "green", "reason": "Exec sponsor re-engaged", "expires_on": until}
    owner_client.post(f"/accounts/{account.id}/override", data=data)
    owner_client.post(f"/accounts/{account.id}/override/clear")
    owner_client.post(f"/accounts/{account.id}/override/clear")  # none left: nothing recorded
    trail = audit_trail()
    assert [(entry.action, entry.actor_id, entry.target) for entry in trail] == [
        ("band_override.set", csm.id, f"account:{account.id}"),
        ("band_override.cleared", csm.id, f"account:{account.id}"),
    ]
    assert trail[0].details == {
        "account": "Audited",
        "band": "green",
        "reason": "Exec sponsor re-engaged",
        "expires_on": until.isoformat(),
        "replaced": 0,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"band": "green", "reason": "", "expires_on": "2099-01-01"}, "Give a reason"),
        ({"band": "green", "reason": "ok then", "expires_on": "2001-01-01"}, "after today"),
        ({"band": "green", "reason": "ok then", "expires_on": "2999-01-01"}, "at most a year"),
        ({"band": "green", "reason": "ok then", "expires_on": "soon"}, "Not a valid date"),
        ({"band": "purple", "reason": "ok then", "expires_on": "2099-01-01"}, "Not a valid"),
    ],
)
def test_a_bad_override_is_refused_with_a_readable_message(owner_client, csm, data, message):
    account = AccountFactory(owner=csm)
    response = owner_client.post(f"/accounts/{account.id}/override", data=data)
    assert response.status_code == 400
    assert message in response.text
    assert db.session.scalar(select(BandOverride)) is None


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("notes", {"body": "sneaky"}),
        ("outreach", {"channel": "call", "summary": "sneaky"}),
        ("override", {"band": "green", "reason": "sneaky", "expires_on": "2099-01-01"}),
        ("override/clear", {}),
        ("tasks", {"title": "sneaky", "severity": "high"}),
    ],
)
def test_a_csm_cannot_change_another_owners_account_by_crafting_a_post(
    make_user, login, path, data
):
    other = make_user("csm", name="Other Owner")
    account = AccountFactory(owner=other)
    client = login(make_user("csm", name="Nosy Csm"))
    response = client.post(f"/accounts/{account.id}/{path}", data=data)
    assert response.status_code == 403
    assert db.session.scalar(select(TimelineEntry)) is None
    assert db.session.scalar(select(BandOverride)) is None


def test_a_csm_views_another_owners_account_without_the_edit_forms(make_user, login):
    account = AccountFactory(owner=make_user("csm", name="Other Owner"))
    page = login(make_user("csm")).get(f"/accounts/{account.id}").text
    assert "only its owner or an admin can change it" in page
    assert "Add a note" not in page and "Override the band" not in page


def test_viewers_cannot_edit_and_admins_edit_every_account(make_user, login):
    account = AccountFactory(owner=make_user("csm"))
    viewer = login(make_user("viewer"))
    assert viewer.post(f"/accounts/{account.id}/notes", data={"body": "hi"}).status_code == 403
    assert "Add a note" not in viewer.get(f"/accounts/{account.id}").text
    viewer.post("/logout")
    admin = login(make_user("admin"))
    assert admin.post(f"/accounts/{account.id}/notes", data={"body": "hi"}).status_code == 302


def test_posting_to_an_unknown_account_is_a_404(owner_client):
    assert owner_client.post("/accounts/424242/notes", data={"body": "x"}).status_code == 404


def test_adding_a_note_needs_a_csrf_token(owner_client, csm, csrf_enabled):
    account = AccountFactory(owner=csm)
    response = owner_client.post(f"/accounts/{account.id}/notes", data={"body": "x"})
    assert response.status_code == 400


def test_the_account_page_says_what_changed_and_shows_context_apart_from_levers(csm_client):
    account = AccountFactory(name="Globex")
    week = {
        "since": "2026-11-24",
        "previous_score": 47.0,
        "delta": -12.0,
        "parts": [
            {"feature": "active_users", "points": -9.0, "context": False,
             "sentence": "24 active users a day (was 40)"},
            {"feature": "days_to_renewal", "points": -3.0, "context": True,
             "sentence": "Renewal in 20 days (was 27)"},
        ],
    }  # fmt: skip
    context = [{"feature": "arr", "value": 9e4, "contribution": 0.2, "sentence": "ARR 90,000"}]
    HealthScoreFactory(account=account, score=35.0, changes={"7": week}, context=context)
    page = csm_client.get(f"/accounts/{account.id}").text
    changes = page[page.index('id="changes"') :]
    assert "Since last week" in changes and "-12 points" in changes
    assert "24 active users a day (was 40)" in changes
    assert "(context)" in changes
    assert "Since last month" in changes and "No score to compare with yet" in changes
    drivers = page[page.index('id="drivers"') : page.index('id="changes"')]
    assert "Context" in drivers and "ARR 90,000" in drivers


def test_a_churned_account_shows_when_and_why_it_churned_but_no_band_or_churn_risk(
    owner_client, csm
):
    account = scored_account(
        "Gone Corp",
        p_churn=0.42,
        owner=csm,
        lifecycle_stage="churned",
        churned_at=dt.date(2026, 3, 1),
        churn_reason="Moved to a competitor",
    )
    BandOverrideFactory(account=account, band="green")
    page = owner_client.get(f"/accounts/{account.id}").text
    assert "Churned on 2026-03-01: Moved to a competitor" in page
    assert "band-pill" not in page
    assert "P(churn)" not in page and "42%" not in page
    assert "Churn risk over the coming months" not in page
    assert "Override the band" not in page and "Clear override" not in page


def test_overriding_the_band_of_a_churned_account_is_refused_with_a_message(owner_client, csm):
    account = AccountFactory(owner=csm, churned_at=dt.date(2026, 3, 1))
    until = (clock.today() + dt.timedelta(days=5)).isoformat()
    data = {"band": "green", "reason": "Hope springs eternal", "expires_on": until}
    response = owner_client.post(f"/accounts/{account.id}/override", data=data)
    assert response.status_code == 409
    assert "a churned account has no band to override" in response.text
    assert db.session.scalar(select(BandOverride)) is None


def test_open_tasks_come_first_by_due_date_then_the_last_five_done(owner_client, csm):
    account = AccountFactory(owner=csm)
    today, now = clock.today(), clock.utcnow()
    TaskFactory(account=account, title="No due date", reason="a")
    TaskFactory(account=account, title="Due later", reason="b", due_date=today + dt.timedelta(9))
    TaskFactory(account=account, title="Due soon", reason="c", due_date=today + dt.timedelta(2))
    for age in range(6):
        TaskFactory(
            account=account,
            title=f"Done {age} days ago",
            reason=f"done{age}",
            status="done",
            outcome="saved",
            completed_at=now - dt.timedelta(days=age),
        )
    page = owner_client.get(f"/accounts/{account.id}").text
    shown = ["Due soon", "Due later", "No due date"] + [f"Done {age} days ago" for age in range(5)]
    assert [page.index(title) for title in shown] == sorted(page.index(title) for title in shown)
    assert "Done 5 days ago" not in page


def test_playbooks_and_assignees_are_offered_only_to_who_may_act_on_an_open_task(
    owner_client, csm, make_user, login
):
    db.session.add(Playbook(name="Save play", steps=["Call the champion"]))
    account = AccountFactory(owner=csm, name="Initech")
    TaskFactory(account=account, title="Usage fell")
    assert "Save play" in owner_client.get(f"/accounts/{account.id}").text
    owner_client.post("/logout")
    page = login(make_user("csm", name="Other CSM")).get(f"/accounts/{account.id}").text
    assert "Usage fell" in page and "Save play" not in page and "Save assignment" not in page

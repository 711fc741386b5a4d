"""The survey admin services called directly, without a request: saving surveys and campaigns
with their audit trail, refusing a campaign that cannot run, previewing sends, pausing and
resuming, and the test email."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from cs_platform import scheduler as clock
from cs_platform.extensions import db
from cs_platform.outbox import OutboxMessage
from surveys import services
from surveys.jobs import JOB_PREFIX
from surveys.models import Campaign, Survey
from surveys.planning import CampaignError
from tests.conftest import audit_trail
from tests.factories import CampaignFactory, ContactFactory, SurveyFactory


@pytest.fixture
def admin(make_user):
    return make_user("admin", email="admin@example.com", name="Ada Admin")


@pytest.fixture
def scheduler(app, monkeypatch) -> Iterator[BackgroundScheduler]:
    """A paused in-memory scheduler standing in for this process's running one."""
    running = BackgroundScheduler(timezone="UTC")
    running.start(paused=True)
    monkeypatch.setitem(clock._state, "scheduler", running)
    yield running
    running.shutdown(wait=False)


def campaign_data(survey_id: int, **overrides) -> dict:
    """What the campaign form's `data` holds for a weekly NPS to champions."""
    data = {
        "name": "Quarterly NPS", "survey_id": survey_id, "trigger": "recurring",
        "cron": "0 6 * * mon", "timezone": "UTC", "period_days": 90, "event": "",
        "delay_hours": 24, "send_at": None, "window_start_hour": 9, "window_end_hour": 11,
        "weekdays_only": True, "throttle_days": 90, "sample_percent": 100, "daily_cap": None,
        "spread_days": None, "reminders": 1, "reminder_after_days": 5, "expiry_days": 30,
        "segments": [], "lifecycle_stages": [], "plans": [], "roles": ["champion"],
    }  # fmt: skip
    return data | overrides


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_new_campaign_is_saved_audited_as_its_author_and_scheduled(admin, scheduler):
    ContactFactory(role="champion")
    survey = SurveyFactory()
    campaign = services.save_campaign(Campaign(audience={}), campaign_data(survey.id), admin)
    assert (campaign.status, campaign.cron, campaign.event) == ("active", "0 6 * * mon", None)
    assert campaign.audience == {"roles": ["champion"]}
    [entry] = audit_trail()
    assert (entry.action, entry.target, entry.actor.email) == (
        "campaign.created",
        "Quarterly NPS",
        "admin@example.com",
    )
    assert scheduler.get_job(f"{JOB_PREFIX}{campaign.id}").name == "cron 0 6 * * mon UTC"


def test_an_edit_audits_only_what_changed_and_reschedules_the_job(admin, scheduler):
    ContactFactory(role="champion")
    survey = SurveyFactory()
    campaign = services.save_campaign(Campaign(audience={}), campaign_data(survey.id), admin)
    edit = campaign_data(survey.id, throttle_days=120, cron="30 7 * * *")
    services.save_campaign(db.session.get(Campaign, campaign.id), edit, admin)
    entries = audit_trail()
    assert [entry.action for entry in entries] == ["campaign.created", "campaign.updated"]
    assert entries[1].details["changed"] == {
        "throttle_days": [90, 120],
        "cron": ["0 6 * * mon", "30 7 * * *"],
    }
    assert scheduler.get_job(f"{JOB_PREFIX}{campaign.id}").name == "cron 30 7 * * * UTC"


def test_a_campaign_that_is_not_recurring_keeps_no_rule(admin):
    ContactFactory(role="champion")
    survey = SurveyFactory()
    data = campaign_data(survey.id, trigger="event", event="ticket_solved")
    campaign = services.save_campaign(Campaign(audience={}), data, admin)
    assert (campaign.cron, campaign.event) == (None, "ticket_solved")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"cron": "0 6 31 2 *"}, "can never fire"),  # 31 February
        ({"roles": ["billing"]}, "the audience matches no contact"),
        ({"window_start_hour": 12, "window_end_hour": 10}, "the send window must start"),
    ],
)
def test_a_campaign_that_cannot_run_raises_and_saves_nothing(admin, overrides, reason):
    ContactFactory(role="champion")
    survey = SurveyFactory()
    with pytest.raises(CampaignError, match=reason):
        services.save_campaign(Campaign(audience={}), campaign_data(survey.id, **overrides), admin)
    assert count(Campaign) == 0
    assert audit_trail() == []


def test_a_refused_edit_leaves_the_saved_campaign_as_it_was(admin):
    campaign = CampaignFactory(throttle_days=90)
    with pytest.raises(CampaignError):
        services.save_campaign(
            campaign, campaign_data(campaign.survey_id, throttle_days=5, roles=["billing"]), admin
        )
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).throttle_days == 90
    assert audit_trail() == []


def test_previewing_sends_lists_the_next_five_and_saves_nothing(admin):
    ContactFactory(role="champion")
    survey = SurveyFactory()
    data = campaign_data(survey.id, cron="0 6 * * *", timezone="Europe/Berlin")
    sends = services.preview_campaign_sends(Campaign(audience={}), data, admin)
    assert len(sends) == 5
    assert all((send.hour, str(send.tzinfo)) == (6, "Europe/Berlin") for send in sends)
    assert sends[1] - sends[0] == dt.timedelta(days=1)
    assert count(Campaign) == 0
    assert audit_trail() == []


def test_previewing_a_campaign_that_cannot_run_raises(admin):
    survey = SurveyFactory()  # no contact: the audience is empty
    with pytest.raises(CampaignError, match="audience"):
        services.preview_campaign_sends(Campaign(audience={}), campaign_data(survey.id), admin)


def test_pausing_and_resuming_are_each_audited_and_drop_then_restore_the_job(admin, scheduler):
    campaign = CampaignFactory()
    job_id = f"{JOB_PREFIX}{campaign.id}"
    services.set_campaign_paused(campaign, True, admin)
    assert campaign.status == "paused"
    assert scheduler.get_job(job_id) is None
    services.set_campaign_paused(campaign, False, admin)
    assert campaign.status == "active"
    assert scheduler.get_job(job_id) is not None
    assert [(e.action, e.details["changed"], e.actor_id) for e in audit_trail()] == [
        ("campaign.paused", {"status": ["active", "paused"]}, admin.id),
        ("campaign.resumed", {"status": ["paused", "active"]}, admin.id),
    ]


def test_a_test_email_is_queued_once_to_the_user_and_each_request_sends_another(admin):
    campaign = CampaignFactory()
    services.send_test_email(campaign, admin)
    [message] = db.session.scalars(select(OutboxMessage))
    assert message.kind == "email"
    assert message.payload == {
        "template": "test",
        "campaign_id": campaign.id,
        "to": "admin@example.com",
        "name": "Ada Admin",
    }
    services.send_test_email(campaign, admin)
    assert count(OutboxMessage) == 2


def survey_data(**overrides) -> dict:
    """What the survey form's `data` holds."""
    data = {
        "name": "Relationship NPS", "kind": "nps", "default_locale": "en",
        "product_name": "Orbit", "sender_name": "Orbit team", "brand_colour": "#0F766E",
        "question_en": "", "question_de": " Würden Sie {product} empfehlen? ",
        "question_fr": None, "question_es": "", "follow_up_detractor": "What went wrong?",
        "follow_up_passive": "", "follow_up_promoter": "",
    }  # fmt: skip
    return data | overrides


def test_a_new_survey_is_saved_with_its_texts_and_audited(admin):
    survey = services.save_survey(Survey(texts={}), survey_data(), admin)
    assert survey.brand_colour == "#0f766e"
    assert survey.texts["de"]["question"] == "Würden Sie {product} empfehlen?"
    assert survey.texts["en"] == {
        "question": "",  # empty: the built-in question is asked
        "follow_up": {"detractor": "What went wrong?", "passive": "", "promoter": ""},
    }
    [entry] = audit_trail()
    assert (entry.action, entry.target, entry.actor_id) == (
        "survey.created",
        "Relationship NPS",
        admin.id,
    )


def test_a_survey_edit_keeps_other_texts_and_audits_the_change(admin):
    survey = SurveyFactory(name="Relationship NPS", texts={"en": {"question": "Old?", "x": 1}})
    services.save_survey(survey, survey_data(name="Relationship NPS 2027"), admin)
    assert survey.texts["en"]["x"] == 1
    [entry] = audit_trail()
    assert entry.action == "survey.updated"
    assert entry.details["changed"]["name"] == ["Relationship NPS", "Relationship NPS 2027"]

"""Survey admin and results pages: create and edit, validation at save time (sampling and drip
included), preview, test email, pause, skips by reason, results with interval, trend, breakdowns
and escaped comments."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.outbox import OutboxMessage
from surveys.jobs import campaign_trigger
from surveys.models import Campaign, Survey
from surveys.planning import plan_campaign
from surveys.tokens import preview_token
from tests.conftest import audit_trail
from tests.factories import (
    AccountFactory,
    CampaignFactory,
    ContactFactory,
    SurveyFactory,
    SurveyResponseFactory,
)


@pytest.fixture
def admin_client(make_user, login):
    return login(make_user("admin", email="admin@example.com", name="Ada Admin"))


def campaign_form(survey_id: int, **overrides) -> dict:
    form = {
        "name": "Quarterly NPS",
        "survey_id": str(survey_id),
        "trigger": "recurring",
        "cron": "0 6 * * mon",
        "period_days": "90",
        "event": "",
        "delay_hours": "24",
        "window_start_hour": "9",
        "window_end_hour": "11",
        "weekdays_only": "y",
        "throttle_days": "90",
        "sample_percent": "100",
        "reminders": "1",
        "reminder_after_days": "5",
        "expiry_days": "30",
    }
    form.update(overrides)
    return form


def test_an_admin_creates_a_survey_with_texts_per_language(admin_client):
    page = admin_client.post(
        "/surveys/new",
        data={
            "name": "Relationship NPS",
            "kind": "nps",
            "default_locale": "en",
            "product_name": "Orbit",
            "sender_name": "Orbit team",
            "brand_colour": "#0F766E",
            "question_de": "Würden Sie {product} empfehlen?",
            "follow_up_detractor": "What went wrong?",
        },
    )
    assert page.status_code == 302
    survey = db.session.scalar(select(Survey))
    assert survey.brand_colour == "#0f766e"
    assert survey.texts["de"]["question"] == "Würden Sie {product} empfehlen?"
    assert survey.texts["en"]["follow_up"]["detractor"] == "What went wrong?"


def test_a_campaign_with_a_bad_cron_rule_is_refused_with_a_clear_error(admin_client):
    ContactFactory()
    survey = SurveyFactory()
    page = admin_client.post(
        "/surveys/campaigns/new", data=campaign_form(survey.id, cron="0 25 * * *")
    )
    assert page.status_code == 400
    assert "not a valid crontab rule" in page.text
    assert db.session.scalar(select(Campaign)) is None


def test_a_campaign_whose_audience_is_empty_is_refused(admin_client):
    ContactFactory(role="user")
    survey = SurveyFactory()
    page = admin_client.post(
        "/surveys/campaigns/new", data=campaign_form(survey.id, roles=["billing"])
    )
    assert page.status_code == 400 and "matches no contact" in page.text


def test_the_new_campaign_form_starts_from_the_defaults_asking_everyone(admin_client):
    SurveyFactory()
    page = admin_client.get("/surveys/campaigns/new")
    assert 'name="sample_percent" type="number" value="100"' in page.text
    assert 'name="period_days" type="number" value="90"' in page.text
    assert 'name="spread_days" type="number" value=""' in page.text


def test_an_admin_samples_a_fifth_of_the_audience_spread_over_a_week(admin_client):
    ContactFactory()
    survey = SurveyFactory()
    form = campaign_form(survey.id, sample_percent="20", spread_days="7", daily_cap="50")
    assert admin_client.post("/surveys/campaigns/new", data=form).status_code == 302
    campaign = db.session.scalar(select(Campaign))
    assert (campaign.sample_percent, campaign.spread_days, campaign.daily_cap) == (20, 7, 50)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sample_percent", "0", "Ask between 1 and 100 % of the audience (100: everyone)."),
        ("sample_percent", "", "Ask between 1 and 100 % of the audience (100: everyone)."),
        ("sample_percent", "101", "Ask between 1 and 100 % of the audience (100: everyone)."),
        ("spread_days", "0", "Spread over 1 to 365 days, or leave it empty to send at once."),
        ("daily_cap", "0", "Send at least 1 a day, or leave it empty for no cap."),
    ],
)
def test_a_sample_or_drip_out_of_range_is_refused_next_to_the_field(
    admin_client, field, value, message
):
    ContactFactory()
    survey = SurveyFactory()
    page = admin_client.post(
        "/surveys/campaigns/new", data=campaign_form(survey.id, **{field: value})
    )
    assert f'<p class="field-error">{message}</p>' in page.text
    assert db.session.scalar(select(Campaign)) is None


def test_a_spread_longer_than_the_period_is_refused_with_the_reason(admin_client):
    ContactFactory()
    survey = SurveyFactory()
    form = campaign_form(survey.id, period_days="30", spread_days="45")
    page = admin_client.post("/surveys/campaigns/new", data=form)
    assert page.status_code == 400
    assert "spread the sends over at most the 30 days of a period" in page.text
    assert db.session.scalar(select(Campaign)) is None


def test_the_campaign_list_says_why_contacts_were_not_asked(admin_client):
    ContactFactory.create_batch(20, account=AccountFactory())
    campaign = CampaignFactory(sample_percent=30)
    result = plan_campaign(campaign)
    db.session.commit()
    not_sampled = result.skipped["not_sampled"]
    listing = admin_client.get("/surveys/")
    assert f"{not_sampled} not sampled" in listing.text


def test_an_admin_creates_pauses_and_resumes_a_campaign(admin_client):
    ContactFactory(role="champion")
    survey = SurveyFactory()
    created = admin_client.post(
        "/surveys/campaigns/new", data=campaign_form(survey.id, roles=["champion"])
    )
    assert created.status_code == 302
    campaign = db.session.scalar(select(Campaign))
    assert campaign.audience == {"roles": ["champion"]} and campaign.cron == "0 6 * * mon"
    admin_client.post(f"/surveys/campaigns/{campaign.id}/pause")
    db.session.refresh(campaign)
    assert campaign.status == "paused"
    listing = admin_client.get("/surveys/")
    assert "Resume" in listing.text
    admin_client.post(f"/surveys/campaigns/{campaign.id}/resume")
    db.session.refresh(campaign)
    assert campaign.status == "active"


def test_survey_and_campaign_edits_are_audited_with_what_changed(admin_client):
    survey = SurveyFactory(name="Relationship NPS")
    ContactFactory(role="champion")
    admin_client.post("/surveys/campaigns/new", data=campaign_form(survey.id, roles=["champion"]))
    campaign = db.session.scalar(select(Campaign))
    edited = campaign_form(survey.id, roles=["champion"], throttle_days="120")
    assert (
        admin_client.post(f"/surveys/campaigns/{campaign.id}/edit", data=edited).status_code == 302
    )
    admin_client.post(f"/surveys/campaigns/{campaign.id}/pause")
    admin_client.post(
        f"/surveys/{survey.id}/edit",
        data={"name": "Relationship NPS 2027", "kind": "nps", "default_locale": "en",
              "product_name": "Orbit", "sender_name": "Orbit team", "brand_colour": "#0f766e"},
    )  # fmt: skip

    entries = [(e.action, e.target, e.details["changed"]) for e in audit_trail()]
    assert [(action, target) for action, target, _ in entries] == [
        ("campaign.created", "Quarterly NPS"),
        ("campaign.updated", "Quarterly NPS"),
        ("campaign.paused", "Quarterly NPS"),
        ("survey.updated", "Relationship NPS 2027"),
    ]
    assert entries[1][2] == {"throttle_days": [90, 120]}
    assert entries[2][2] == {"status": ["active", "paused"]}
    assert entries[3][2]["name"] == ["Relationship NPS", "Relationship NPS 2027"]
    assert all(entry.actor.email == "admin@example.com" for entry in audit_trail())


def test_the_preview_shows_the_email_per_language_and_a_test_goes_to_oneself(admin_client):
    campaign = CampaignFactory(survey=SurveyFactory(texts={}, product_name="Orbit"))
    page = admin_client.get(f"/surveys/campaigns/{campaign.id}/preview?locale=fr")
    assert "Une petite question sur Orbit" in page.text
    html = admin_client.get(f"/surveys/campaigns/{campaign.id}/preview?locale=fr&part=html")
    token = preview_token(admin_client.application.config["SECRET_KEY"], campaign.id)
    assert html.text.count(f"/s/{token}/") == 12  # eleven scores and unsubscribe
    score_page = admin_client.get(f"/s/{token}/7")
    assert score_page.status_code == 200 and "Preview" in score_page.text
    sent = admin_client.post(f"/surveys/campaigns/{campaign.id}/test")
    assert sent.status_code == 302
    message = db.session.scalar(select(OutboxMessage))
    assert message.payload["to"] == "admin@example.com"


def test_a_csm_sees_results_but_cannot_edit(csm_client):
    survey = SurveyFactory()
    assert csm_client.get(f"/surveys/{survey.id}").status_code == 200
    assert csm_client.get("/surveys/new").status_code == 403


def test_the_results_page_shows_nps_with_interval_trend_breakdowns_and_escaped_comments(
    admin_client, make_user
):
    owner = make_user("csm", name="Casey Owner")
    survey = SurveyFactory()
    enterprise = AccountFactory(segment="enterprise", owner_id=owner.id, name="Acme")
    smb = AccountFactory(segment="smb")
    march, april = dt.datetime(2026, 3, 10), dt.datetime(2026, 4, 10)
    for score, account, when in [(10, enterprise, march), (9, enterprise, april), (2, smb, april)]:
        SurveyResponseFactory(
            survey=survey, account=account, score=score, responded_at=when, comment=None
        )
    SurveyResponseFactory(
        survey=survey, account=smb, score=3, responded_at=april, comment="<b>slow</b>"
    )
    page = admin_client.get(f"/surveys/{survey.id}")
    assert page.status_code == 200
    assert "95 % interval" in page.text
    assert "2026-03" in page.text and "2026-04" in page.text
    assert "Enterprise" in page.text and "Casey Owner" in page.text
    assert "&lt;b&gt;slow&lt;/b&gt;" in page.text and "<b>slow</b>" not in page.text


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ({"schedule": "daily", "schedule_hour": "7"}, "0 7 * * *"),
        ({"schedule": "weekly", "schedule_hour": "9", "schedule_weekday": "tue"}, "0 9 * * tue"),
        ({"schedule": "monthly", "schedule_hour": "6", "schedule_day": "15"}, "0 6 15 * *"),
        ({"schedule": "quarterly", "schedule_day": "1"}, "0 6 1 1,4,7,10 *"),
        ({"schedule": "cron", "cron": " 30 6 * * * "}, "30 6 * * *"),
    ],
)
def test_a_schedule_preset_saves_the_crontab_rule_it_stands_for(admin_client, preset, expected):
    ContactFactory()
    form = campaign_form(SurveyFactory().id, **{"cron": "", **preset})
    assert admin_client.post("/surveys/campaigns/new", data=form).status_code == 302
    assert db.session.scalar(select(Campaign)).cron == expected


def test_a_preset_outside_its_choices_is_refused_on_the_server(admin_client):
    form = campaign_form(SurveyFactory().id, schedule="monthly", schedule_day="31")
    page = admin_client.post("/surveys/campaigns/new", data=form)
    assert page.status_code == 400 and "Not a valid choice" in page.text
    assert db.session.scalar(select(Campaign)) is None


@pytest.mark.parametrize(
    ("cron", "shown"),
    [
        ("0 6 15 * *", ['selected value="monthly"', 'selected value="15"']),
        ("0 8 * * fri", ['selected value="weekly"', 'selected value="fri"', 'selected value="8"']),
        ("0 6 1 1,4,7,10 *", ['selected value="quarterly"']),
        ("30 6 * * *", ['selected value="cron"', 'value="30 6 * * *"']),
    ],
)
def test_a_saved_rule_shows_as_its_preset_or_else_as_crontab(admin_client, cron, shown):
    campaign = CampaignFactory(cron=cron)
    page = admin_client.get(f"/surveys/campaigns/{campaign.id}/edit").text
    assert all(html in page for html in shown)


def test_the_audience_is_chosen_with_checkboxes_and_never_offers_churned(admin_client):
    campaign = CampaignFactory(audience={"segments": ["smb"]})
    page = admin_client.get(f"/surveys/campaigns/{campaign.id}/edit").text
    assert "<legend>Lifecycle stages</legend>" in page and "<select multiple" not in page
    assert '<input checked id="segments-0" name="segments" type="checkbox" value="smb">' in page
    assert 'value="churned"' not in page
    refused = admin_client.post(
        f"/surveys/campaigns/{campaign.id}/edit",
        data=campaign_form(campaign.survey_id, lifecycle_stages=["churned"]),
    )
    assert "not a valid choice" in refused.text


def test_the_campaign_form_shows_the_next_sends_of_a_rule_without_saving(admin_client):
    survey = SurveyFactory()
    ContactFactory(role="champion")
    form = campaign_form(survey.id, roles=["champion"], schedule="cron", cron="0 6 * * 1")

    page = admin_client.post("/surveys/campaigns/new", data={**form, "action": "preview_schedule"})

    assert page.status_code == 200
    shown = re.findall(r'<time datetime="([^"]+)">(\w+)', page.text)
    assert len(shown) == 5 and {day for _, day in shown} == {"Mon"}
    assert db.session.scalar(select(Campaign)) is None


def test_a_campaign_rule_that_can_never_fire_is_refused(admin_client):
    survey = SurveyFactory()
    ContactFactory(role="champion")
    form = campaign_form(survey.id, roles=["champion"], schedule="cron", cron="0 0 31 2 *")

    page = admin_client.post("/surveys/campaigns/new", data=form)

    assert page.status_code == 400
    assert "can never fire" in page.text
    assert db.session.scalar(select(Campaign)) is None


def test_the_next_sends_show_in_the_campaign_time_zone_with_their_utc_time(admin_client):
    survey = SurveyFactory()
    ContactFactory(role="champion")
    form = campaign_form(
        survey.id, roles=["champion"], schedule="cron", cron="0 6 * * 1", timezone="Europe/Berlin"
    )

    page = admin_client.post("/surveys/campaigns/new", data={**form, "action": "preview_schedule"})

    assert page.status_code == 200
    assert "Next sends (Europe/Berlin;" in page.text
    assert re.search(
        r"Mon \d+ \w+ \d{4}, 06:00 CE[S]?T</time> <span class=\"muted\">\(0[45]:00 UTC\)", page.text
    )


def test_a_campaign_saved_in_a_time_zone_is_scheduled_in_it(admin_client):
    survey = SurveyFactory()
    ContactFactory(role="champion")
    form = campaign_form(
        survey.id, roles=["champion"], schedule="cron", cron="0 6 * * 1", timezone="Asia/Tokyo"
    )

    assert admin_client.post("/surveys/campaigns/new", data=form).status_code == 302

    campaign = db.session.scalar(select(Campaign))
    assert campaign.timezone == "Asia/Tokyo"
    trigger, signature = campaign_trigger(campaign)
    first = trigger.get_next_fire_time(None, dt.datetime(2026, 12, 4, tzinfo=dt.UTC))
    assert first.astimezone(dt.UTC).isoformat() == "2026-12-06T21:00:00+00:00"  # Mon 06:00 JST
    assert signature == "cron 0 6 * * 1 Asia/Tokyo"


def test_an_unknown_campaign_time_zone_is_refused_and_nothing_saved(admin_client):
    survey = SurveyFactory()
    ContactFactory(role="champion")
    form = campaign_form(survey.id, roles=["champion"], schedule="cron", cron="0 6 * * 1",
                         timezone="Berlin")  # fmt: skip

    page = admin_client.post("/surveys/campaigns/new", data=form)

    assert page.status_code == 400
    assert "&#39;Berlin&#39; is not a time zone" in page.text
    assert db.session.scalar(select(Campaign)) is None


def test_a_form_without_a_time_zone_keeps_utc(admin_client):
    survey = SurveyFactory()
    ContactFactory(role="champion")
    form = campaign_form(survey.id, roles=["champion"], schedule="cron", cron="0 6 * * 1")
    form.pop("timezone", None)

    assert admin_client.post("/surveys/campaigns/new", data=form).status_code == 302
    assert db.session.scalar(select(Campaign)).timezone == "UTC"


def test_previewing_a_saved_campaign_in_another_zone_names_the_zone_typed(admin_client):
    campaign = CampaignFactory(cron="0 6 * * 1")
    ContactFactory(role="champion")
    form = campaign_form(campaign.survey_id, roles=["champion"], schedule="cron",
                         cron="30 8 * * 1-5", timezone="America/New_York")  # fmt: skip
    data = {**form, "action": "preview_schedule"}

    page = admin_client.post(f"/surveys/campaigns/{campaign.id}/edit", data=data).text

    assert "Next sends (America/New_York;" in page
    assert "08:30 EST</time>" in page and "(13:30 UTC)" in page
    assert db.session.get(Campaign, campaign.id).timezone == "UTC"  # nothing saved


def test_previewing_the_schedule_of_an_event_campaign_says_it_applies_to_recurring_ones(
    admin_client,
):
    survey = SurveyFactory()
    ContactFactory(role="champion")
    form = campaign_form(survey.id, roles=["champion"], trigger="event", event="ticket_solved")

    page = admin_client.post("/surveys/campaigns/new", data={**form, "action": "preview_schedule"})

    assert "The schedule applies to recurring campaigns" in page.text
    assert "<time" not in page.text

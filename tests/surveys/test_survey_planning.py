"""Campaign planning: audience, sampling, fatigue and throttle with recorded skips, unique
invitations, send windows, drip (daily cap, spread over days), ticket-solved triggers (late syncs,
requesters), validation and reminders in the contact's send window."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.outbox import OutboxMessage
from surveys import planning
from surveys.models import Campaign, Invitation, SurveySkip
from surveys.planning import CampaignError, plan_campaign, plan_reminders, validate_campaign
from surveys.schedule import (
    Window,
    daily_quota,
    drip_day,
    in_sample,
    period_key,
    send_time,
    zone,
)
from surveys.tokens import derive_token, hash_token
from tests.factories import AccountFactory, CampaignFactory, ContactFactory, SupportTicketFactory
from tests.surveys.helpers import invite, token_of

MONDAY_MORNING = dt.datetime(2026, 3, 2, 6, 0)  # UTC; 07:00 in Berlin, the contacts' zone
FRIDAY_MORNING = dt.datetime(2026, 3, 6, 6, 0)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def local(moment: dt.datetime, tz_name: str) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC).astimezone(zone(tz_name))


def local_dates(invitations: list[Invitation]) -> list[dt.date]:
    """The contacts' own calendar dates of their sends, in order."""
    return sorted(local(i.scheduled_for, i.contact.timezone).date() for i in invitations)


def plan_at(campaign: Campaign, now: dt.datetime) -> list[Invitation]:
    """Plan the campaign as a run at `now` would, commit, and return its invitations."""
    plan_campaign(campaign, now=now)
    db.session.commit()
    return list(db.session.scalars(select(Invitation).order_by(Invitation.id)))


def test_planning_invites_the_audience_and_queues_one_email_each(app):
    contacts = ContactFactory.create_batch(3)
    campaign = CampaignFactory()
    result = plan_campaign(campaign)
    db.session.commit()
    assert result.invited == 3
    invitations = db.session.scalars(select(Invitation)).all()
    assert {i.contact_id for i in invitations} == {c.id for c in contacts}
    keys = set(db.session.scalars(select(OutboxMessage.dedupe_key)))
    assert keys == {f"invitation:{i.id}:0" for i in invitations}


def test_audience_leaves_out_churned_accounts_unsubscribed_and_filtered_contacts(app):
    kept = ContactFactory(role="champion", account=AccountFactory(segment="enterprise"))
    ContactFactory(role="billing", account=AccountFactory(segment="enterprise"))
    ContactFactory(account=AccountFactory(segment="smb"))
    ContactFactory(
        account=AccountFactory(segment="enterprise", lifecycle_stage="churned", churned_at=None)
    )
    ContactFactory(account=AccountFactory(segment="enterprise"), unsubscribed_at=utcnow())
    campaign = CampaignFactory(audience={"segments": ["enterprise"], "roles": ["champion"]})
    invitations = invite(campaign)
    assert [i.contact_id for i in invitations] == [kept.id]


def test_running_a_campaign_twice_in_one_period_never_invites_twice(app):
    ContactFactory.create_batch(2)
    campaign = CampaignFactory()
    invite(campaign)
    second = plan_campaign(campaign)
    db.session.commit()
    assert second.invited == 0 and second.skipped == {}
    assert count(Invitation) == 2 and count(OutboxMessage) == 2


def test_the_database_refuses_a_second_invitation_for_campaign_contact_and_period(app):
    ContactFactory()
    [first] = invite(CampaignFactory())
    duplicate = Invitation(
        campaign_id=first.campaign_id,
        contact_id=first.contact_id,
        account_id=first.account_id,
        period_key=first.period_key,
        token_hash="x" * 64,
        token_salt="s",
        scheduled_for=utcnow(),
        expires_at=utcnow(),
    )
    db.session.add(duplicate)
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_contact_surveyed_by_another_campaign_is_skipped_with_the_reason(app):
    contact = ContactFactory()
    invite(CampaignFactory())
    other = CampaignFactory()
    result = plan_campaign(other)
    db.session.commit()
    assert result.invited == 0 and result.skipped == {"global_fatigue": 1}
    skip = db.session.scalar(select(SurveySkip))
    assert (skip.contact_id, skip.reason) == (contact.id, "global_fatigue")
    plan_campaign(other)  # a re-run records the skip once
    db.session.commit()
    assert count(SurveySkip) == 1


def test_the_campaign_throttle_skips_a_new_period_inside_its_window(app):
    ContactFactory()
    campaign = CampaignFactory(period_days=7, throttle_days=30)
    invite(campaign)
    later = utcnow() + dt.timedelta(days=8)
    result = plan_campaign(campaign, now=later)
    assert result.skipped == {"campaign_throttle": 1}


def test_the_link_token_is_128_bits_and_only_its_hash_is_stored(app):
    ContactFactory()
    [invitation] = invite(CampaignFactory())
    token = token_of(invitation)
    assert len(token) == 22  # 16 bytes, base64url
    assert invitation.token_hash == hash_token(token)
    stored = db.session.execute(select(Invitation.__table__)).mappings().one()
    assert token not in {str(value) for value in stored.values()}


def test_each_invitation_is_placed_in_its_contacts_window_on_its_drip_day(app):
    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Mars/Olympus", "UTC"]
    contacts = [ContactFactory(timezone=zone) for zone in zones * 2]
    campaign = CampaignFactory(
        daily_cap=3, window_start_hour=9, window_end_hour=17, weekdays_only=True
    )
    invitations = plan_at(campaign, FRIDAY_MORNING)
    window = Window(9, 17, True)
    expected = {
        contact.id: send_time(FRIDAY_MORNING, contact.timezone, window, contact.id, position // 3)
        for position, contact in enumerate(sorted(contacts, key=lambda c: c.id))
    }
    assert {i.contact_id: i.scheduled_for for i in invitations} == expected
    assert all(i.expires_at - i.scheduled_for == dt.timedelta(days=30) for i in invitations)
    queued = select(OutboxMessage.dedupe_key, OutboxMessage.next_attempt_at)
    due = dict(db.session.execute(queued).all())
    assert due == {f"invitation:{i.id}:0": i.scheduled_for for i in invitations}


def test_a_run_written_in_several_statements_gives_each_invitation_a_token_of_its_own(
    app, monkeypatch
):
    monkeypatch.setattr(planning, "INVITATIONS_PER_STATEMENT", 2)
    contacts = ContactFactory.create_batch(5)
    invitations = plan_at(CampaignFactory(), MONDAY_MORNING)
    assert [i.contact_id for i in invitations] == [c.id for c in contacts]  # in contact order
    secret = app.config["SECRET_KEY"]
    assert all(i.token_hash == hash_token(derive_token(secret, i.token_salt)) for i in invitations)
    assert len({i.token_salt for i in invitations}) == len({i.token_hash for i in invitations}) == 5
    assert all(len(i.token_salt) == 32 for i in invitations)  # 128 random bits, in hex


def test_two_campaigns_planned_in_one_transaction_see_each_others_invitations(app):
    ContactFactory.create_batch(3)
    first, second = CampaignFactory(), CampaignFactory()
    assert plan_campaign(first).invited == 3
    again = plan_campaign(second)  # not committed in between
    db.session.commit()
    assert (again.invited, again.skipped) == (0, {"global_fatigue": 3})


def test_sends_fall_inside_the_contacts_own_window_on_a_weekday():
    saturday_night = dt.datetime(2026, 3, 7, 23, 0)  # UTC
    when = send_time(saturday_night, "America/New_York", Window(9, 11, True), spread_key=5)
    local = when.replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert local.weekday() == 0 and 9 <= local.hour < 11
    tokyo = send_time(saturday_night, "Asia/Tokyo", Window(9, 11, True), spread_key=5)
    assert tokyo.date() == dt.date(2026, 3, 9) and 0 <= tokyo.hour < 2  # 9-11 JST = 0-2 UTC


def test_an_unknown_time_zone_falls_back_to_utc():
    when = send_time(dt.datetime(2026, 3, 9, 3), "Mars/Olympus", Window(9, 11, False), 0)
    assert when == dt.datetime(2026, 3, 9, 9)


def test_drip_spreads_the_audience_by_the_daily_cap(app):
    assert [drip_day(i, 2) for i in range(5)] == [0, 0, 1, 1, 2]
    ContactFactory.create_batch(5)
    invitations = plan_at(CampaignFactory(daily_cap=2), MONDAY_MORNING)
    days = [(date - MONDAY_MORNING.date()).days for date in local_dates(invitations)]
    assert days == [0, 0, 1, 1, 2]


def test_the_daily_count_of_a_spread_is_the_audience_over_the_days_unless_the_cap_is_smaller():
    assert daily_quota(10, None, 4) == 3  # ceil(10 / 4)
    assert daily_quota(10, 2, 4) == 2
    assert daily_quota(10, 5, 4) == 3
    assert daily_quota(10, None, None) is None  # everyone on the first day
    assert daily_quota(0, None, 3) is None


def test_a_spread_over_five_days_sends_a_fifth_of_the_run_each_day(app):
    ContactFactory.create_batch(10)
    invitations = plan_at(CampaignFactory(spread_days=5), MONDAY_MORNING)
    per_day = Counter((date - MONDAY_MORNING.date()).days for date in local_dates(invitations))
    assert per_day == {0: 2, 1: 2, 2: 2, 3: 2, 4: 2}


def test_a_daily_cap_below_the_spread_wins_and_the_run_takes_longer(app):
    ContactFactory.create_batch(6)
    invitations = plan_at(CampaignFactory(spread_days=2, daily_cap=2), MONDAY_MORNING)
    per_day = Counter((date - MONDAY_MORNING.date()).days for date in local_dates(invitations))
    assert per_day == {0: 2, 1: 2, 2: 2}  # the spread alone would send 3 a day for 2 days


def test_a_weekdays_only_drip_counts_sending_days_so_monday_gets_no_more_than_its_share(app):
    ContactFactory.create_batch(5)
    campaign = CampaignFactory(
        spread_days=5, window_start_hour=9, window_end_hour=11, weekdays_only=True
    )
    invitations = plan_at(campaign, FRIDAY_MORNING)
    sends = sorted(local(i.scheduled_for, "Europe/Berlin") for i in invitations)
    assert [send.strftime("%a") for send in sends] == ["Fri", "Mon", "Tue", "Wed", "Thu"]
    assert all(9 <= send.hour < 11 for send in sends)


def test_the_sample_is_the_chosen_share_decided_the_same_way_on_every_run():
    sampled = [c for c in range(1, 10_001) if in_sample(7, c, "p42", 25)]
    assert 0.23 < len(sampled) / 10_000 < 0.27
    assert sampled == [c for c in range(1, 10_001) if in_sample(7, c, "p42", 25)]
    assert all(in_sample(7, c, "p42", 100) for c in range(1, 1001))


def test_each_period_and_campaign_samples_afresh_so_the_others_get_their_turn():
    def sample(campaign_id: int, period: str) -> set[int]:
        return {c for c in range(1, 2001) if in_sample(campaign_id, c, period, 50)}

    this_period, next_period = sample(7, "p42"), sample(7, "p43")
    assert 0.4 < len(this_period & next_period) / len(this_period) < 0.6  # independent draws
    assert sample(8, "p42") != this_period


def test_a_sampled_campaign_invites_its_share_and_records_the_rest_as_not_sampled(app):
    contacts = ContactFactory.create_batch(60, account=AccountFactory())
    campaign = CampaignFactory(sample_percent=25)
    result = plan_campaign(campaign, now=MONDAY_MORNING)
    db.session.commit()
    key = period_key(MONDAY_MORNING, campaign.period_days)
    expected = {c.id for c in contacts if in_sample(campaign.id, c.id, key, 25)}
    assert 5 <= len(expected) <= 25  # a quarter of 60, give or take the luck of the hash
    assert set(db.session.scalars(select(Invitation.contact_id))) == expected
    assert result.skipped == {"not_sampled": 60 - len(expected)}
    skipped = set(db.session.scalars(select(SurveySkip.contact_id)))
    assert skipped == {c.id for c in contacts} - expected


def test_a_re_run_of_the_period_picks_the_same_contacts_and_invites_nobody_twice(app):
    ContactFactory.create_batch(30, account=AccountFactory())
    campaign = CampaignFactory(sample_percent=40, cron="0 6 * * *")
    first = {i.contact_id for i in plan_at(campaign, MONDAY_MORNING)}
    db.session.execute(Invitation.__table__.delete())  # as if that run had been rolled back
    db.session.execute(SurveySkip.__table__.delete())
    db.session.commit()
    again = {i.contact_id for i in plan_at(campaign, MONDAY_MORNING + dt.timedelta(hours=1))}
    assert again == first
    next_day = plan_campaign(campaign, now=MONDAY_MORNING + dt.timedelta(days=1))
    assert (next_day.invited, next_day.skipped) == (0, {})
    assert count(Invitation) == len(first) and count(SurveySkip) == 30 - len(first)


def test_a_contact_outside_the_sample_is_listed_as_not_sampled_even_when_fatigued(app):
    contacts = ContactFactory.create_batch(20, account=AccountFactory())
    plan_at(CampaignFactory(), MONDAY_MORNING)  # everyone was surveyed just now
    other = CampaignFactory(sample_percent=50)
    result = plan_campaign(other, now=MONDAY_MORNING)
    key = period_key(MONDAY_MORNING, other.period_days)
    inside = sum(in_sample(other.id, c.id, key, 50) for c in contacts)
    assert result.skipped == {"global_fatigue": inside, "not_sampled": 20 - inside}


def test_periods_of_a_recurring_campaign_change_every_period_days():
    monday = dt.datetime(2026, 3, 2)
    assert period_key(monday, 90) == period_key(monday + dt.timedelta(days=1), 90)
    keys = {period_key(monday + dt.timedelta(days=d), 1) for d in range(3)}
    assert len(keys) == 3


def ticket_campaign(**overrides) -> Campaign:
    """A ticket-solved campaign that has existed for a week (tickets solved since count)."""
    campaign = CampaignFactory(trigger="event", event="ticket_solved", cron=None, **overrides)
    campaign.created_at = utcnow() - dt.timedelta(days=7)
    db.session.commit()
    return campaign


def test_a_solved_ticket_invites_after_the_delay_once_per_ticket(app):
    contact = ContactFactory()
    campaign = ticket_campaign(delay_hours=24)
    ticket = SupportTicketFactory(account=contact.account)
    [invitation] = invite(campaign)
    assert invitation.period_key == f"t{ticket.id}"
    delay = invitation.scheduled_for - ticket.solved_at
    assert dt.timedelta(hours=24) <= delay < dt.timedelta(hours=48)  # then spread in the window
    assert plan_campaign(campaign).invited == 0  # a re-run invites nobody twice


def test_a_ticket_synced_after_the_run_that_passed_its_solve_time_is_still_surveyed(app):
    contact = ContactFactory()
    campaign = ticket_campaign(delay_hours=24)
    now = utcnow()
    plan_campaign(campaign, now=now - dt.timedelta(minutes=15))  # e.g. 10:45, nothing synced yet
    db.session.commit()
    ticket = SupportTicketFactory(
        account=contact.account,
        solved_at=now - dt.timedelta(hours=1),  # 10:00, before that run
        synced_at=now - dt.timedelta(minutes=10),  # 10:50, the hourly helpdesk sync
    )
    [invitation] = invite(campaign)  # 11:00
    assert invitation.period_key == f"t{ticket.id}"
    assert invitation.scheduled_for >= ticket.solved_at + dt.timedelta(hours=24)


def test_a_ticket_whose_delay_passed_before_it_arrived_is_invited_at_once(app):
    contact = ContactFactory()
    campaign = ticket_campaign(delay_hours=24)
    SupportTicketFactory(account=contact.account, solved_at=utcnow() - dt.timedelta(days=3))
    before = utcnow()
    [invitation] = invite(campaign)
    assert before <= invitation.scheduled_for < before + dt.timedelta(days=1)


def test_a_re_synced_ticket_is_never_surveyed_twice_even_after_a_contact_joins(app):
    account = AccountFactory()
    ContactFactory(account=account)
    campaign = ticket_campaign()
    ticket = SupportTicketFactory(account=account)
    invite(campaign)
    ContactFactory(account=account)
    ticket.satisfaction, ticket.synced_at = "good", utcnow()  # the next sync writes it again
    db.session.commit()
    assert plan_campaign(campaign).invited == 0
    assert count(Invitation) == 1


def test_csat_after_a_ticket_goes_to_the_contact_who_filed_it(app):
    account = AccountFactory()
    requester = ContactFactory(account=account, email="dana@acme.example")
    ContactFactory(account=account)
    campaign = ticket_campaign()
    SupportTicketFactory(account=account, requester_email="Dana@ACME.example")
    assert [i.contact_id for i in invite(campaign)] == [requester.id]


def test_a_ticket_without_a_known_requester_goes_to_the_audience_of_its_account(app):
    account = AccountFactory()
    contacts = ContactFactory.create_batch(2, account=account)
    ContactFactory()  # another account's contact
    campaign = ticket_campaign()
    SupportTicketFactory(account=account, requester_email=None)
    assert {i.contact_id for i in invite(campaign)} == {c.id for c in contacts}


def test_the_other_contacts_are_not_surveyed_in_place_of_an_unsubscribed_requester(app):
    account = AccountFactory()
    ContactFactory(account=account, email="dana@acme.example", unsubscribed_at=utcnow())
    ContactFactory(account=account)
    campaign = ticket_campaign()
    SupportTicketFactory(account=account, requester_email="dana@acme.example")
    assert invite(campaign) == []


def test_a_reopened_ticket_is_surveyed_only_once_it_is_solved_again(app):
    contact = ContactFactory()
    campaign = ticket_campaign()
    ticket = SupportTicketFactory(account=contact.account, status="open")
    assert invite(campaign) == []
    ticket.status, ticket.synced_at = "solved", utcnow()
    db.session.commit()
    assert [i.contact_id for i in invite(campaign)] == [contact.id]


def test_a_spread_longer_than_the_period_or_on_an_event_campaign_is_refused(app):
    ContactFactory()
    with pytest.raises(CampaignError, match="at most the 7 days of a period"):
        validate_campaign(CampaignFactory.build(period_days=7, spread_days=10))
    with pytest.raises(CampaignError, match="an event campaign sends after its delay"):
        validate_campaign(
            CampaignFactory.build(trigger="event", event="ticket_solved", cron=None, spread_days=3)
        )
    validate_campaign(CampaignFactory.build(period_days=7, spread_days=7))


def test_a_bad_cron_rule_or_an_empty_audience_is_refused_at_save_time(app):
    ContactFactory(role="champion")
    with pytest.raises(CampaignError, match="crontab"):
        validate_campaign(CampaignFactory.build(cron="every tuesday"))
    with pytest.raises(CampaignError, match="not a valid crontab"):
        validate_campaign(CampaignFactory.build(cron="99 * * * *"))
    with pytest.raises(CampaignError, match="matches no contact"):
        validate_campaign(CampaignFactory.build(audience={"roles": ["billing"]}))
    validate_campaign(CampaignFactory.build(audience={"roles": ["champion"]}))


def test_a_paused_campaign_plans_nothing(app):
    ContactFactory()
    assert plan_campaign(CampaignFactory(status="paused")).invited == 0


def test_one_reminder_goes_to_those_who_did_not_answer_after_five_days(app):
    quiet, answered = ContactFactory.create_batch(2)
    first, second = invite(CampaignFactory(reminders=1, reminder_after_days=5))
    five_days_ago = utcnow() - dt.timedelta(days=5, minutes=1)
    for invitation in (first, second):
        invitation.status, invitation.sent_at = "sent", five_days_ago
    second.status = "answered"
    db.session.commit()
    assert plan_reminders() == 1
    db.session.commit()
    assert plan_reminders() == 0  # the limit of one reminder is reached
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.payload["template"].as_string() == "reminder")
    )
    assert message.dedupe_key == f"invitation:{first.id}:1"
    assert quiet.id == first.contact_id and answered.id == second.contact_id


def test_a_reminder_waits_for_the_contacts_send_window_as_the_first_send_did(app):
    contact = ContactFactory(timezone="Asia/Tokyo")
    campaign = CampaignFactory(
        window_start_hour=9, window_end_hour=11, weekdays_only=True, reminder_after_days=5
    )
    [invitation] = invite(campaign)
    saturday_night = dt.datetime(2026, 3, 7, 23, 0)  # UTC; Sunday 08:00 in Tokyo
    invitation.status, invitation.sent_at = "sent", saturday_night - dt.timedelta(days=5, hours=1)
    invitation.expires_at = saturday_night + dt.timedelta(days=20)
    db.session.commit()
    assert plan_reminders(now=saturday_night) == 1
    db.session.commit()
    reminder = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.payload["template"].as_string() == "reminder")
    )
    due = local(reminder.next_attempt_at, "Asia/Tokyo")
    assert (due.date(), 9 <= due.hour < 11) == (dt.date(2026, 3, 9), True)  # Monday morning
    window = Window(9, 11, True)
    assert reminder.next_attempt_at == send_time(saturday_night, "Asia/Tokyo", window, contact.id)

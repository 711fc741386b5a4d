"""Which accounts a rule holds for: every trigger and every condition, each on a book where some
accounts match and some do not."""

from __future__ import annotations

import datetime as dt

import pytest

from cs_platform.automation.matching import Moment, matching, refresh_run_tables
from cs_platform.extensions import db
from cs_platform.models import AccountList, AccountListMember, AccountTrait, TraitDefinition, utcnow
from integrations.models import UsageDaily
from tests.factories import (
    AccountFactory,
    BandOverrideFactory,
    ChurnRiskFactory,
    SupportTicketFactory,
    SurveyResponseFactory,
)

pytestmark = pytest.mark.usefixtures("app")


def matched(trigger: dict, conditions: list | None = None) -> set[int]:
    definition = {"trigger": trigger, "conditions": conditions or []}
    return {row[0] for row in db.session.execute(matching(definition, Moment.read()))}


def matched_in_a_run(trigger: dict) -> set[int]:
    """As a run matches: the weekly usage computed once into its table first."""
    moment = refresh_run_tables(Moment.read(), usage=True)
    rows = db.session.execute(matching({"trigger": trigger, "conditions": []}, moment))
    return {row[0] for row in rows}


def test_band_entered_takes_the_override_in_force_and_skips_accounts_red_the_day_before(scored):
    entered = scored(30, before=55)
    stayed = scored(30, before=35)
    overridden = scored(30, before=55)
    BandOverrideFactory(account=overridden, band="green")
    first_score = scored(30)
    assert matched({"type": "band_entered", "band": "red"}) == {entered.id, first_score.id}
    assert matched_in_a_run({"type": "band_entered", "band": "red"}) == {entered.id, first_score.id}
    assert stayed.id not in matched({"type": "band_left", "band": "red"})


def test_band_left_is_an_account_out_of_the_band_it_had_the_day_before(scored):
    left = scored(75, before=35)
    scored(35, before=35)
    assert matched({"type": "band_left", "band": "red"}) == {left.id}
    assert matched_in_a_run({"type": "band_left", "band": "red"}) == {left.id}


def test_score_drop_compares_with_the_score_days_ago(scored, today):
    dropped = scored(40, before=60)
    scored(55, before=60)
    assert matched({"type": "score_drop", "points": 15, "days": 1}) == {dropped.id}
    assert matched({"type": "score_drop", "points": 15, "days": 30}) == set()  # no score that old


def test_churn_risk_above_reads_the_latest_risk_day(today):
    risky = ChurnRiskFactory(scored_on=today, p_churn_before_renewal=0.6).account
    ChurnRiskFactory(scored_on=today, p_churn_before_renewal=0.4)
    ChurnRiskFactory(scored_on=today - dt.timedelta(days=1), p_churn_before_renewal=0.9)
    assert matched({"type": "churn_risk_above", "probability": 0.5}) == {risky.id}


def usage(account, day: dt.date, events: int, users: int = 5, source: str = "imported") -> None:
    db.session.add(
        UsageDaily(account_id=account.id, day=day, source=source, events=events, active_users=users)
    )
    db.session.commit()


def test_usage_drop_compares_this_week_with_the_last_and_counts_two_sources_once(today):
    falling, steady, new = AccountFactory(), AccountFactory(), AccountFactory()
    for offset in range(14):
        day = today - dt.timedelta(days=offset)
        recent = offset < 7
        usage(falling, day, 40 if recent else 100)
        usage(falling, day, 40 if recent else 100, source="segment")  # the same usage, seen twice
        usage(steady, day, 100)
        if recent:
            usage(new, day, 10)
    assert matched({"type": "usage_drop", "percent": 50}) == {falling.id}
    assert matched_in_a_run({"type": "usage_drop", "percent": 50}) == {falling.id}
    assert matched({"type": "usage_drop", "percent": 70}) == set()


def test_seat_utilisation_above_or_below_a_share_of_seats(today):
    crowded = AccountFactory(seats=10)
    idle = AccountFactory(seats=100)
    unused = AccountFactory(seats=20)  # no usage at all: 0 % used
    AccountFactory(seats=0)
    usage(crowded, today, 50, users=12)
    usage(idle, today, 50, users=10)
    assert matched({"type": "seat_utilisation", "direction": "above", "share": 1.0}) == {crowded.id}
    below = {"type": "seat_utilisation", "direction": "below", "share": 0.2}
    assert matched_in_a_run(below) == {idle.id, unused.id}
    assert matched({"type": "seat_utilisation", "direction": "below", "share": 0.2}) == {
        idle.id,
        unused.id,
    }


def test_survey_answers_trigger_by_category_within_the_last_day():
    now = utcnow()
    detractor = SurveyResponseFactory(score=3, responded_at=now - dt.timedelta(hours=2)).account
    passive = SurveyResponseFactory(score=7, responded_at=now - dt.timedelta(hours=2)).account
    SurveyResponseFactory(score=2, responded_at=now - dt.timedelta(days=3))
    SurveyResponseFactory(score=10, responded_at=now)
    assert matched({"type": "survey_answer", "category": "detractor"}) == {detractor.id}
    assert matched({"type": "survey_answer", "category": "passive"}) == {passive.id}


def test_ticket_backlog_counts_tickets_not_solved_or_closed():
    busy, calm = AccountFactory(), AccountFactory()
    for status in ("new", "open", "pending"):
        SupportTicketFactory(
            account=busy, status=status, solved_at=None, created_at=utcnow(), updated_at=utcnow()
        )
    SupportTicketFactory(account=calm, status="solved")
    SupportTicketFactory(
        account=calm, status="open", solved_at=None, created_at=utcnow(), updated_at=utcnow()
    )
    assert matched({"type": "ticket_backlog", "count": 2}) == {busy.id}


def test_renewal_within_days_and_not_past_renewals_or_churned_accounts(today):
    soon = AccountFactory(renewal_date=today + dt.timedelta(days=20))
    AccountFactory(renewal_date=today + dt.timedelta(days=40))
    AccountFactory(renewal_date=today - dt.timedelta(days=1))
    AccountFactory(renewal_date=today + dt.timedelta(days=5), lifecycle_stage="churned")
    assert matched({"type": "renewal_within", "days": 30}) == {soon.id}


def test_trait_changed_within_the_last_day():
    db.session.add(TraitDefinition(key="tier", label="Tier", type="string"))
    changed, stale = AccountFactory(), AccountFactory()
    db.session.add_all(
        [
            AccountTrait(account_id=changed.id, key="tier", value_text="gold", updated_at=utcnow()),
            AccountTrait(
                account_id=stale.id,
                key="tier",
                value_text="gold",
                updated_at=utcnow() - dt.timedelta(days=2),
            ),
        ]
    )
    db.session.commit()
    assert matched({"type": "trait_changed", "key": "tier"}) == {changed.id}


RENEWING = {"type": "renewal_within", "days": 400}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "segment", "op": "in", "value": ["enterprise"]}, {"ent"}),
        ({"field": "segment", "op": "not_in", "value": ["enterprise"]}, {"smb"}),
        ({"field": "plan", "op": "in", "value": ["starter"]}, {"smb"}),
        ({"field": "lifecycle_stage", "op": "in", "value": ["onboarding"]}, {"ent"}),
        ({"field": "arr", "op": "gte", "value": 100000}, {"ent"}),
        ({"field": "arr", "op": "lte", "value": 100000}, {"smb"}),
        ({"field": "owner", "op": "eq", "value": "none"}, {"smb"}),
        ({"field": "owner", "op": "ne", "value": "none"}, {"ent"}),
        ({"field": "band", "op": "eq", "value": "red"}, {"ent"}),
        ({"field": "band", "op": "ne", "value": "red"}, {"smb"}),
        ({"field": "health_score", "op": "lte", "value": 50}, {"ent"}),
        ({"field": "health_score", "op": "gte", "value": 50}, {"smb"}),
        ({"field": "p_churn", "op": "gte", "value": 0.5}, {"ent"}),
        ({"field": "p_churn", "op": "lte", "value": 0.5}, {"smb"}),
        ({"field": "trait", "op": "matches", "value": "tier:gold"}, {"ent"}),
        ({"field": "list", "op": "in", "value": "LIST"}, {"ent"}),
        ({"field": "list", "op": "not_in", "value": "LIST"}, {"smb"}),
    ],
)
def test_each_condition_narrows_the_accounts(condition, expected, scored, make_user, today):
    ent = scored(
        30,
        segment="enterprise",
        plan="growth",
        lifecycle_stage="onboarding",
        arr=250000,
        owner=make_user("csm"),
        renewal_date=today + dt.timedelta(days=90),
    )
    smb = scored(
        80,
        segment="smb",
        plan="starter",
        arr=12000,
        owner=None,
        renewal_date=today + dt.timedelta(days=90),
    )
    ChurnRiskFactory(account=ent, scored_on=today, p_churn_before_renewal=0.7)
    ChurnRiskFactory(account=smb, scored_on=today, p_churn_before_renewal=0.1)
    db.session.add(TraitDefinition(key="tier", label="Tier", type="string"))
    db.session.add(AccountTrait(account_id=ent.id, key="tier", value_text="gold"))
    saved_list = AccountList(name="Watch")
    db.session.add(saved_list)
    db.session.flush()
    db.session.add(AccountListMember(list_id=saved_list.id, account_id=ent.id, added_by="Ada"))
    db.session.commit()
    if condition["value"] == "LIST":
        condition = {**condition, "value": saved_list.id}
    names = {ent.id: "ent", smb.id: "smb"}
    assert {names[i] for i in matched(RENEWING, [condition])} == expected


def test_still_matching_is_whether_the_rule_matched_the_account_at_its_last_run(scored, rule):
    from cs_platform.automation.engine import run_rules

    red = scored(30, before=55)
    green = scored(80, before=80)
    saved = rule(
        {"trigger": {"type": "band_entered", "band": "red"}, "steps": [{"action": "webhook"}]}
    )
    run_rules()
    definition = {
        "trigger": RENEWING,
        "conditions": [{"field": "still_matching", "op": "eq", "value": True}],
    }
    rows = db.session.execute(matching(definition, Moment.read(), saved.id))
    assert {row[0] for row in rows} == {red.id}
    assert green.id not in {
        row[0] for row in db.session.execute(matching(definition, Moment.read(), None))
    }

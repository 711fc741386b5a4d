"""Seeding the demo book into the database, from the service and from `flask demo`."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from cs_platform import clock
from cs_platform.automation.models import Rule
from cs_platform.automation.services import EXAMPLE_RULES
from cs_platform.demo.models import DemoAccountTruth, DemoRun
from cs_platform.demo.service import (
    DemoRefused,
    database_is_empty,
    demo_data_present,
    seed_demo,
)
from cs_platform.extensions import db
from cs_platform.models import (
    Account,
    AccountTrait,
    Contact,
    ExternalId,
    Task,
    TimelineEntry,
    TraitDefinition,
    User,
)
from cs_platform.tasks.models import Playbook
from integrations.models import Connection, SupportTicket, UnmatchedRecord, UsageDaily
from scoring.features import features_as_of
from scoring.models import HealthScore
from surveys.models import Survey, SurveyResponse
from tests.factories import AccountFactory

TABLES = {
    "accounts": Account,
    "external_ids": ExternalId,
    "contacts": Contact,
    "support_tickets": SupportTicket,
    "survey_responses": SurveyResponse,
    "tasks": Task,
    "timeline_entries": TimelineEntry,
    "demo_runs": DemoRun,
    "demo_account_truth": DemoAccountTruth,
    "usage_daily": UsageDaily,
    "account_traits": AccountTrait,
}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_seeding_an_empty_database_loads_every_table_of_the_book(app):
    assert database_is_empty() and not demo_data_present()
    summary = seed_demo(accounts=40, seed=3, force=False)
    assert {name: count(model) for name, model in TABLES.items()} == summary.rows
    assert summary.rows["usage_daily"] > 40 * 30
    assert db.session.scalar(select(func.count()).where(~Account.is_demo)) == 0
    assert not database_is_empty() and demo_data_present()
    assert "40 accounts" in summary.describe()


def test_the_demo_has_six_csm_owners_and_one_survey_per_kind(app):
    seed_demo(accounts=60, seed=3, force=False)
    owners = db.session.scalars(select(User).join(Account, Account.owner_id == User.id)).all()
    assert {owner.role for owner in owners} == {"csm"}
    assert len(set(owners)) == 6
    assert sorted(db.session.scalars(select(Survey.kind))) == ["ces", "csat", "nps"]


def test_loaded_rows_read_back_with_their_types(app):
    seed_demo(accounts=30, seed=4, force=False)
    run = db.session.scalar(select(DemoRun))
    assert run.seed == 4 and run.as_of == clock.today()
    assert set(run.hazard_model["coefficients"]) >= {"usage_decline", "detractor"}
    truth = db.session.scalar(select(DemoAccountTruth))
    assert isinstance(truth.driver_contributions, dict) and truth.final_hazard > 0
    account = db.session.get(Account, truth.account_id)
    assert isinstance(account.contract_start, dt.date) and account.arr > 0
    usage = db.session.scalar(select(UsageDaily).where(UsageDaily.feature_counts.is_not(None)))
    assert sum(usage.feature_counts.values()) == usage.events
    latest = db.session.scalar(select(func.max(UsageDaily.day)))
    assert latest == clock.today() - dt.timedelta(days=1)


def test_every_demo_account_has_one_trait_of_each_type(app):
    seed_demo(accounts=30, seed=4, force=False)
    types = dict(db.session.execute(select(TraitDefinition.key, TraitDefinition.type)).all())
    account = db.session.scalar(select(Account).where(Account.plan == "enterprise").limit(1))

    values = account.trait_values

    assert sorted(types.values()) == ["boolean", "date", "number", "string"]
    assert set(values) == set(types)
    assert values["support_tier"] == "Platinum"
    assert values["licences_purchased"] >= account.seats
    assert values["go_live"] == (account.contract_start + dt.timedelta(days=21)).isoformat()
    assert values["sso_enabled"] is True  # every enterprise account has SSO
    assert count(AccountTrait) == 4 * 30


def test_seeding_refuses_a_database_with_real_customers(app):
    AccountFactory(name="Real Customer Ltd")
    with pytest.raises(DemoRefused, match="1 accounts that are not demo data; use --force"):
        seed_demo(accounts=20, seed=1, force=False)
    assert db.session.scalars(select(Account.name)).all() == ["Real Customer Ltd"]
    assert count(DemoRun) == 0


def test_force_replaces_real_customers_with_the_demo(app):
    AccountFactory(name="Real Customer Ltd")
    seed_demo(accounts=20, seed=1, force=True)
    assert count(Account) == 20
    assert db.session.scalar(select(Account).where(Account.name == "Real Customer Ltd")) is None


def test_seeding_again_replaces_the_previous_demo(app):
    seed_demo(accounts=30, seed=1, force=False)
    summary = seed_demo(accounts=25, seed=2, force=False)
    assert {name: count(model) for name, model in TABLES.items()} == summary.rows
    assert db.session.scalar(select(DemoRun.seed)) == 2
    assert count(User) == 6  # the CSMs are kept, not created twice


def test_reseeding_keeps_rows_that_only_point_at_an_account(app):
    seed_demo(accounts=10, seed=1, force=False)
    connection = Connection(name="Zendesk", kind="zendesk")
    db.session.add(connection)
    db.session.flush()
    record = UnmatchedRecord(
        connection_id=connection.id,
        stream="tickets",
        external_id="42",
        reason="no organisation",
        payload={},
        resolved_account_id=db.session.scalar(select(func.min(Account.id))),
    )
    db.session.add(record)
    db.session.commit()
    seed_demo(accounts=10, seed=2, force=False)
    db.session.expire_all()
    assert db.session.get(UnmatchedRecord, record.id).resolved_account_id is None


def test_rows_added_after_the_demo_get_fresh_ids(app):
    seed_demo(accounts=15, seed=1, force=False)
    largest = db.session.scalar(select(func.max(Account.id)))
    account = AccountFactory()
    assert account.id > largest


def test_scoring_features_can_be_built_from_the_demo(app):
    seed_demo(accounts=40, seed=5, force=False)
    features = features_as_of(clock.today())
    live = db.session.scalar(select(func.count()).where(Account.churned_at.is_(None)))
    assert len(features) == live
    assert features["active_users"].notna().mean() > 0.9
    assert features["nps_latest"].notna().any()


def test_the_demo_command_seeds_the_book_and_prints_the_login(runner):
    result = runner.invoke(args=["demo", "--accounts", "25", "--seed", "9", "--no-scoring"])
    assert result.exit_code == 0, result.output
    assert "demo book loaded (seed 9): 25 accounts" in result.output
    assert result.stderr.startswith("[1/1] loading the demo book: 25 accounts, ")
    assert "sign in as demo@cs-platform.localhost with password" in result.output
    assert count(Account) == 25
    assert count(HealthScore) == 0


def test_the_demo_comes_up_scored_with_playbooks_and_a_book_for_the_demo_login(runner):
    result = runner.invoke(args=["demo", "--accounts", "120", "--as-of", "2026-11-02"])
    assert result.exit_code == 0, result.output
    login = db.session.scalar(select(User).where(User.email == "demo@cs-platform.localhost"))
    owned = db.session.scalar(select(func.count()).where(Account.owner_id == login.id))
    assert owned > 0 and f"the demo login owns {owned} accounts" in result.output
    days = db.session.scalars(select(HealthScore.scored_on).distinct()).all()
    assert len(days) == 14 and max(days) == dt.date(2026, 11, 2)
    assert count(Playbook) >= 3
    assert "scored 14 days of history" in result.output
    steps = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in steps] == [f"[{i}/17" for i in range(1, 18)]
    assert steps[2].startswith("[3/17] scoring 2026-08-03: ") and "s left" in steps[2]
    assert steps[-2].startswith("[16/17] scoring 2026-11-02: ")
    assert steps[-1].startswith("[17/17] running the example automation rules: acted on ")
    assert sorted(db.session.scalars(select(Rule.name))) == sorted(EXAMPLE_RULES)
    # only the last (today's) run opens risk tasks: none are due months ago
    kinds = ("churn_risk", "health_drop")
    due = db.session.scalars(select(Task.due_date).where(Task.kind.in_(kinds))).all()
    assert all(day > dt.date(2026, 11, 2) for day in due)


def test_the_same_seed_and_day_give_the_same_book(app):
    names = []
    for _ in range(2):
        seed_demo(accounts=15, seed=4, force=False, as_of=dt.date(2026, 6, 1))
        names.append(db.session.scalars(select(Account.name).order_by(Account.name)).all())
    assert names[0] == names[1]


def test_the_demo_command_refuses_real_data_with_one_line(runner):
    AccountFactory()
    result = runner.invoke(args=["demo", "--accounts", "5"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: the database holds 1 accounts that are not demo")
    assert count(Account) == 1


def test_the_demo_command_leaves_existing_data_alone_when_asked_if_empty(runner):
    AccountFactory()
    result = runner.invoke(args=["demo", "--accounts", "5", "--if-empty"])
    assert result.exit_code == 0
    assert "demo data left as it is" in result.output
    assert count(Account) == 1


def test_the_stored_hazard_model_is_plain_json(app):
    seed_demo(accounts=5, seed=1, force=False)
    stored = db.session.scalar(select(DemoRun.hazard_model))
    assert json.loads(json.dumps(stored)) == stored


def test_the_demo_stores_and_prints_how_well_a_perfect_model_ranks_churn(runner):
    result = runner.invoke(args=["demo", "--accounts", "300", "--seed", "2", "--no-scoring"])
    assert result.exit_code == 0, result.output
    perfect = db.session.scalar(select(DemoRun.hazard_model))["perfect_model"]
    assert set(perfect) == {"auc_90d", "snapshots", "rows"} and perfect["rows"] > 300
    line = f"a perfect model of the hidden hazard reaches a 90-day AUC of {perfect['auc_90d']:.3f}"
    assert line in result.output

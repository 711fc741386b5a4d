"""The demo book generator: reproducible, consistent, and churn driven by the hidden model."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from cs_platform.demo import wordlists
from cs_platform.demo.generator import DemoBook, generate_book
from cs_platform.demo.hazard import DEFAULT_MODEL, PROBLEMS
from surveys.survey_metrics import SCORE_RANGES

AS_OF = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def book() -> DemoBook:
    return generate_book(2000, seed=11, as_of=AS_OF)


@pytest.fixture(scope="module")
def usage(book: DemoBook) -> pd.DataFrame:
    return pd.concat(book.usage.chunks(), ignore_index=True)


@pytest.fixture(scope="module")
def ends(book: DemoBook) -> pd.Series:
    """Each account's last day as a customer: the day before churn, or the day before as_of."""
    accounts = book.accounts.set_index("id")
    end = accounts["churned_at"].fillna(pd.Timestamp(AS_OF))
    return end - pd.Timedelta(days=1)


def _frames(book: DemoBook) -> dict[str, pd.DataFrame]:
    frames = dict(book.tables())
    frames["demo_runs"] = frames["demo_runs"].drop(columns="generated_at")
    frames["usage_daily"] = pd.concat(book.usage.chunks(), ignore_index=True)
    return frames


def test_the_same_seed_gives_the_same_book():
    first, second = _frames(generate_book(150, 5, AS_OF)), _frames(generate_book(150, 5, AS_OF))
    for name, frame in first.items():
        pd.testing.assert_frame_equal(frame, second[name], obj=name)


def test_another_seed_gives_another_book():
    first, second = generate_book(150, 5, AS_OF), generate_book(150, 6, AS_OF)
    assert not first.accounts["name"].equals(second.accounts["name"])


def test_usage_blocks_are_the_same_however_often_they_are_read():
    plan = replace(generate_book(150, 5, AS_OF).usage, chunk_accounts=40)
    once, again = list(plan.chunks()), list(plan.chunks())
    assert len(once) == 4
    pd.testing.assert_frame_equal(pd.concat(once), pd.concat(again))
    assert sum(map(len, once)) == plan.row_count()


def test_row_counts_promise_what_the_frames_hold(book, usage):
    counts = book.row_counts()
    assert counts["usage_daily"] == len(usage)
    assert counts["accounts"] == 2000
    assert all(counts[name] == len(frame) for name, frame in book.tables())


def test_churned_accounts_carried_a_higher_true_hazard_than_survivors(book):
    truth = book.demo_account_truth
    by_fate = truth.groupby("churned")[["mean_hazard", "final_hazard"]].mean()
    assert by_fate.loc[True, "mean_hazard"] > 1.5 * by_fate.loc[False, "mean_hazard"]
    assert by_fate.loc[True, "final_hazard"] > 2 * by_fate.loc[False, "final_hazard"]


def test_a_realistic_share_of_the_book_churns_over_the_history(book):
    churned = book.accounts["churned_at"].notna().mean()
    assert 0.08 < churned < 0.3


def test_usage_of_churning_accounts_declines_before_they_leave(book, usage, ends):
    day = pd.to_datetime(usage["day"])
    days_before_end = (ends.reindex(usage["account_id"]).to_numpy() - day).dt.days
    recent = usage[days_before_end.between(0, 27)].groupby("account_id")["active_users"].mean()
    earlier = usage[days_before_end.between(56, 83)].groupby("account_id")["active_users"].mean()
    trend = (recent / earlier).dropna()
    churned = book.accounts.set_index("id")["churned_at"].notna().reindex(trend.index)
    assert trend[churned].median() < trend[~churned].median() - 0.05


def test_detractor_answers_are_more_common_where_accounts_churned(book):
    nps = book.survey_responses[book.survey_responses["kind"] == "nps"]
    churned = nps["account_id"].map(book.accounts.set_index("id")["churned_at"].notna())
    detractor = nps["score"] <= 6
    assert detractor[churned].mean() > detractor[~churned].mean() + 0.05


def test_unhealthy_accounts_open_more_urgent_tickets(book):
    tickets = book.support_tickets
    churned = tickets["account_id"].map(book.accounts.set_index("id")["churned_at"].notna())
    urgent = tickets["priority"].isin(["high", "urgent"])
    assert urgent[churned].mean() > urgent[~churned].mean()


def test_the_truth_records_the_model_and_each_accounts_drivers(book):
    run = book.demo_runs.iloc[0]
    stored = json.loads(run["hazard_model"])
    # the model as it is, plus what was measured of it (test_a_perfect_model_of_...)
    assert stored == DEFAULT_MODEL.to_json() | {"perfect_model": book.perfect_model}
    assert (run["seed"], run["accounts"]) == (11, 2000)
    truth = book.demo_account_truth
    contributions = truth["driver_contributions"].map(json.loads)
    assert set(contributions.iloc[0]) == set(DEFAULT_MODEL.coefficients)
    churned = book.accounts.set_index("id")["churned_at"].notna()
    assert truth.set_index("account_id")["churned"].equals(churned.rename("churned"))


def test_contact_emails_are_unique_within_each_account(book):
    contacts = book.contacts
    assert not contacts.duplicated(["account_id", "email"]).any()
    per_account = contacts.groupby("account_id").size()
    assert per_account.between(2, 8).all()
    assert set(contacts["locale"]) == {"en", "de", "fr", "es"}
    assert contacts["email"].str.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+").all()


def test_survey_scores_stay_within_each_kinds_range(book):
    responses = book.survey_responses
    for kind, (low, high) in SCORE_RANGES.items():
        scores = responses.loc[responses["kind"] == kind, "score"]
        assert len(scores) > 0
        assert scores.between(low, high).all()


def test_every_answer_comes_from_a_contact_of_the_same_account(book):
    contact_account = book.contacts.set_index("id")["account_id"]
    responses = book.survey_responses
    assert (responses["contact_id"].map(contact_account) == responses["account_id"]).all()


def test_ids_are_unique_and_foreign_keys_point_at_generated_rows(book, usage):
    account_ids = set(book.accounts["id"])
    for name, frame in [*book.tables(), ("usage_daily", usage)]:
        if "id" in frame:
            assert frame["id"].is_unique, name
        if "account_id" in frame:
            assert set(frame["account_id"]) <= account_ids, name
    assert not usage.duplicated(["account_id", "day"]).any()


def test_nothing_happens_before_the_contract_or_after_churn_or_as_of(book, usage, ends):
    as_of = pd.Timestamp(AS_OF)
    start = book.accounts.set_index("id")["contract_start"]
    usage_day = pd.to_datetime(usage["day"])
    assert (usage_day >= usage["account_id"].map(start)).all()
    assert (usage_day <= usage["account_id"].map(ends)).all()
    for frame, column in (
        (book.support_tickets, "created_at"),
        (book.survey_responses, "responded_at"),
        (book.timeline_entries, "created_at"),
    ):
        assert (frame[column] < as_of).all(), column
        assert (frame[column] >= frame["account_id"].map(start)).all(), column


def test_open_tickets_have_no_solve_time_and_solved_ones_have_one(book):
    tickets = book.support_tickets
    solved = tickets["status"].isin(["solved", "closed"])
    assert tickets.loc[solved, "solved_at"].notna().all()
    assert tickets.loc[~solved, "solved_at"].isna().all()
    assert tickets.loc[~solved, "resolution_minutes"].isna().all()
    assert (tickets["first_reply_minutes"].dropna() >= 0).all()


def test_at_most_one_open_task_per_account_kind_and_reason(book):
    tasks = book.tasks
    live = tasks[tasks["status"] != "done"]
    assert not live.duplicated(["account_id", "kind", "reason"]).any()
    assert set(tasks["kind"]) == {"detractor", "renewal"}


def test_bigger_segments_have_more_seats_and_more_revenue(book):
    medians = book.accounts.groupby("segment")[["seats", "arr"]].median()
    assert (medians.loc["smb"] < medians.loc["mid_market"]).all()
    assert (medians.loc["mid_market"] < medians.loc["enterprise"]).all()


def test_churned_accounts_have_a_reason_and_a_churned_stage(book):
    churned = book.accounts[book.accounts["churned_at"].notna()]
    live = book.accounts[book.accounts["churned_at"].isna()]
    assert (churned["lifecycle_stage"] == "churned").all()
    assert churned["churn_reason"].notna().all()
    assert live["churn_reason"].isna().all()
    assert (live["renewal_date"] >= pd.Timestamp(AS_OF)).all()


def test_per_feature_counts_add_up_to_the_days_events(usage):
    counted = usage[usage["feature_counts"].notna()]
    assert len(counted) > 0
    counts = counted["feature_counts"].map(json.loads)
    assert (counts.map(lambda c: sum(c.values())) == counted["events"]).all()
    assert (counts.map(len) == counted["features_used"]).all()
    assert np.all(usage["active_users"] >= 0)


def test_a_perfect_model_of_the_hidden_hazard_ranks_90_day_churn_like_a_real_book(book):
    perfect = book.perfect_model
    assert 0.80 <= perfect["auc_90d"] <= 0.90
    assert perfect["snapshots"] == 15  # monthly, each with its 90 days inside the history
    assert perfect["rows"] > 10 * 2000 * 0.5
    assert json.loads(book.demo_runs.iloc[0]["hazard_model"])["perfect_model"] == perfect


def test_a_book_churns_ten_to_twenty_percent_of_its_accounts_a_year(book):
    churned = book.accounts["churned_at"].notna().mean()
    assert 0.10 < churned * 52 / 78 < 0.20


def test_the_levers_a_csm_can_act_on_dominate_the_hidden_hazard(book):
    contributions = pd.DataFrame(
        list(book.demo_account_truth["driver_contributions"].map(json.loads))
    )
    spread = contributions.std()
    context = ["renewal_near", "segment_smb", "segment_enterprise"]
    levers = ["usage_decline", "low_seat_utilisation", "detractor", "ticket_backlog"]
    assert spread[levers].sum() > 3 * spread[context].sum()


def test_tickets_of_churning_accounts_take_longer_to_resolve(book):
    tickets = book.support_tickets
    churned = tickets["account_id"].map(book.accounts.set_index("id")["churned_at"].notna())
    hours = tickets["resolution_minutes"].astype(float) / 60
    assert hours[churned].median() > 1.3 * hours[~churned].median()


def test_detractor_comments_name_the_problem_that_raises_the_accounts_hazard(book):
    texts = {
        text: name
        for by_problem in wordlists.PROBLEM_COMMENTS.values()
        for name, options in by_problem.items()
        for text in options
    }
    nps = book.survey_responses[book.survey_responses["kind"] == "nps"]
    about = nps["comment"].map(texts).dropna()
    assert set(about) == set(PROBLEMS)
    assert (nps.loc[about.index, "score"] <= 6).all()
    churned = nps["account_id"].map(book.accounts.set_index("id")["churned_at"].notna())
    assert churned[about.index].mean() > churned.mean()

"""Nightly scoring and training on a synthetic book, against the database."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, func, select

from cs_platform.extensions import db
from cs_platform.models import Task, TimelineEntry
from cs_platform.scheduler import declared_jobs
from integrations.models import SupportTicket
from scoring.events import health_score_changes
from scoring.features import FEATURES, features_as_of
from scoring.health_model import HealthModel
from scoring.models import ChurnRisk, HealthScore, ModelVersion
from scoring.registry import BRIER_TOLERANCE, Candidate, challenger_wins, compare, register
from scoring.runs import log_score_changes, score_accounts, train_and_commit, train_models
from scoring.survival import SurvivalModel
from scoring.training import NotEnoughHistoryError
from tests.factories import AccountFactory, HealthScoreFactory


def test_features_as_of_a_past_day_ignore_what_happened_after_it(synthetic_book):
    as_of = synthetic_book(accounts=40)
    past = as_of - dt.timedelta(days=200)
    frame = features_as_of(past)
    assert set(FEATURES) <= set(frame.columns)
    churned = frame["churned_at"].notna()
    # accounts that churned later are still live at the past day, with usage known then
    assert churned.any()
    assert (frame.loc[churned, "active_users"] > 0).all()
    assert (frame["tenure_months"] >= 0).all()
    assert frame["days_to_renewal"].between(-1, 366).all()


def test_training_activates_both_models_and_scoring_writes_one_row_per_account_and_day(
    synthetic_book, app
):
    as_of = synthetic_book(accounts=160)
    summary = train_models(as_of, months=6, rounds=30, min_events=5)
    db.session.commit()
    versions = db.session.scalars(select(ModelVersion).where(ModelVersion.active)).all()
    assert {v.kind for v in versions} == {"health", "survival"}
    health = summary.versions["health"]
    assert health.metrics["auc"] > 0.7
    first = score_accounts(as_of)
    score_accounts(as_of)
    db.session.commit()
    assert first.method == "model"
    rows = db.session.scalar(select(func.count()).select_from(HealthScore))
    assert rows == first.accounts == db.session.scalar(select(func.count()).select_from(ChurnRisk))
    risk = db.session.scalars(select(ChurnRisk)).first()
    assert 0 <= risk.p_churn_90d <= 1
    assert risk.survival_curve[0] == [0, 1.0]
    score = db.session.scalars(select(HealthScore)).first()
    assert score.model_version_id == health.id
    assert len(score.drivers) == 3 and all(d["sentence"] for d in score.drivers)


def test_too_little_history_says_so_and_the_scorecard_keeps_scoring(synthetic_book):
    as_of = synthetic_book(accounts=30, churn_share=0.0)
    with pytest.raises(NotEnoughHistoryError, match="scorecard keeps scoring"):
        train_models(as_of, months=6, rounds=10, min_events=5)
    db.session.rollback()
    summary = score_accounts(as_of)
    db.session.commit()
    assert summary.method == "scorecard"
    methods = set(db.session.scalars(select(HealthScore.method)))
    assert methods == {"scorecard"}


def active_ids() -> dict[str, int]:
    rows = db.session.scalars(select(ModelVersion).where(ModelVersion.active)).all()
    return {row.kind: row.id for row in rows}


def test_a_failing_training_run_leaves_the_active_models_untouched(synthetic_book, monkeypatch):
    as_of = synthetic_book(accounts=100)
    train_models(as_of, months=3, rounds=10, min_events=5)
    db.session.commit()
    before = active_ids()

    def broken_fit(*args, **kwargs):
        raise RuntimeError("disk full")

    # The health challenger is fitted first; the survival fit then fails.
    monkeypatch.setattr("scoring.runs.SurvivalModel.fit", broken_fit)
    with pytest.raises(RuntimeError, match="disk full"):
        train_and_commit(as_of=as_of, months=3, rounds=10, min_events=5)
    assert active_ids() == before
    assert db.session.scalar(select(func.count()).select_from(ModelVersion)) == 2


def register_health(auc: float, brier: float, champion: dict | None) -> ModelVersion:
    metrics = {"auc": auc, "brier": brier}
    return register(Candidate("health", b"x", [], {}, metrics, champion))


def test_a_challenger_worse_than_the_champion_is_kept_but_not_activated(app):
    champion = register_health(0.8, 0.1, None)
    challenger = register_health(0.7, 0.1, {"auc": 0.8, "brier": 0.1})
    db.session.commit()
    assert champion.active and not challenger.active
    assert challenger.metrics["activated"] is False
    assert challenger.metrics["comparisons"]["auc"]["not_worse"] is False
    assert challenger_wins(compare("survival", {"c_index": 0.8}, {"c_index": 0.8}))
    assert not challenger_wins(compare("survival", {"c_index": 0.79}, {"c_index": 0.8}))


@pytest.mark.parametrize(
    ("brier", "activated"),
    [(0.1, True), (0.1 + BRIER_TOLERANCE, True), (0.1021, False), (0.13, False)],
)
def test_a_health_challenger_must_also_be_calibrated_about_as_well_as_the_champion(
    app, brier, activated
):
    register_health(0.8, 0.1, None)
    challenger = register_health(0.81, brier, {"auc": 0.8, "brier": 0.1})
    assert challenger.active is activated
    compared = challenger.metrics["comparisons"]
    auc = {"challenger": 0.81, "champion": 0.8, "tolerance": 0.0, "not_worse": True}
    assert compared["auc"] == auc
    assert compared["brier"]["not_worse"] is activated
    assert (compared["brier"]["challenger"], compared["brier"]["champion"]) == (brier, 0.1)
    assert (challenger.metrics["champion_auc"], challenger.metrics["champion_brier"]) == (0.8, 0.1)


class Overconfident:
    """A trained health model with its probabilities pushed towards 1, order kept: it ranks
    exactly as well (same AUC) but is badly calibrated."""

    def __init__(self, model: HealthModel) -> None:
        self.model = model

    def probability(self, inputs: pd.DataFrame) -> np.ndarray:
        return 0.5 + 0.5 * self.model.probability(inputs)

    def __getattr__(self, name: str):
        return getattr(self.model, name)


def test_retraining_replaces_the_champion_with_an_equal_model_but_not_with_a_miscalibrated_one(
    synthetic_book, monkeypatch
):
    as_of = synthetic_book(accounts=100)
    options = {"months": 3, "rounds": 10, "min_events": 5}
    first = train_models(as_of, **options).versions["health"]
    again = train_models(as_of, **options).versions["health"]
    assert active_ids()["health"] == again.id != first.id
    assert again.metrics["comparisons"]["brier"]["champion"] == again.metrics["brier"]
    fit = HealthModel.fit
    monkeypatch.setattr(HealthModel, "fit", lambda *a, **k: Overconfident(fit(*a, **k)))

    summary = train_models(as_of, **options)

    skewed = summary.versions["health"]
    assert active_ids()["health"] == again.id
    assert f"health v{skewed.id}: kept the active model (worse on brier)" in summary.describe()
    compared = skewed.metrics["comparisons"]
    assert compared["auc"]["not_worse"] and compared["auc"]["challenger"] == again.metrics["auc"]
    assert not compared["brier"]["not_worse"]
    assert compared["brier"]["challenger"] > compared["brier"]["champion"] + BRIER_TOLERANCE


def test_train_command_says_why_it_cannot_train_yet(synthetic_book, runner):
    synthetic_book(accounts=20, churn_share=0.0)
    result = runner.invoke(args=["scoring", "train", "--as-of", "2026-06-01", "--months", "6"])
    assert result.exit_code == 1
    assert "only 0 accounts churned" in result.output
    assert "scorecard keeps scoring" in result.output


def test_score_and_backtest_commands_report_what_they_did(synthetic_book, runner):
    synthetic_book(accounts=80)
    scored = runner.invoke(args=["scoring", "score", "--as-of", "2026-06-01"])
    assert scored.exit_code == 0, scored.output
    assert "with the scorecard" in scored.output
    assert scored.stderr.startswith("[1/1] scoring 2026-06-01: ") and "done in" in scored.stderr
    result = runner.invoke(
        args=[
            "scoring",
            "backtest",
            "--as-of",
            "2026-06-01",
            "--months",
            "12",
            "--rounds",
            "10",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    replays = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert replays[0].startswith(f"[1/{len(report['days'])}] replaying ")
    assert report["scorecard"]["days_scored"] == 12  # the oldest replays have no history
    assert 0 <= report["scorecard"]["precision_top_decile"] <= 1
    assert 0 < report["model"]["days_scored"] < 12


def test_nightly_and_weekly_jobs_are_declared(app):
    ids = {spec.id for spec in declared_jobs()}
    assert {"scoring-nightly", "scoring-weekly-retrain"} <= ids


def test_a_score_change_is_written_once_to_the_account_timeline(app):
    day = dt.date(2026, 11, 2)
    falling, steady = AccountFactory(), AccountFactory()
    for account, before, after in ((falling, 80, 35), (steady, 75, 73)):
        HealthScoreFactory(account=account, scored_on=day - dt.timedelta(days=1), score=before)
        HealthScoreFactory(account=account, scored_on=day, score=after)
    for _rerun in range(2):
        log_score_changes(day, health_score_changes(day))
    entries = db.session.scalars(select(TimelineEntry)).all()
    assert [(e.account_id, e.kind, e.body) for e in entries] == [
        (falling.id, "score_change", "Health 80 → 35 (green → red)")
    ]


def test_a_survival_model_that_cannot_read_todays_features_still_lets_health_be_scored(
    synthetic_book,
):
    as_of = synthetic_book(accounts=40)
    rng = np.random.default_rng(3)
    legacy = pd.DataFrame({"retired_metric": rng.normal(size=60)})
    stale = SurvivalModel.fit(
        legacy, pd.Series(rng.uniform(1, 30, 60)), pd.Series(rng.integers(0, 2, 60))
    )
    register(
        Candidate("survival", stale.to_bytes(), ["retired_metric"], {}, {"c_index": 0.6}, None)
    )
    summary = score_accounts(as_of)
    assert summary.accounts > 0 and summary.survival_version is None
    assert db.session.scalar(select(func.count()).select_from(HealthScore)) == summary.accounts
    assert db.session.scalar(select(func.count()).select_from(ChurnRisk)) == 0


def test_a_book_with_accounts_but_no_support_tickets_at_all_is_scored(synthetic_book):
    as_of = synthetic_book(accounts=30)
    db.session.execute(delete(SupportTicket))
    db.session.commit()

    frame = features_as_of(as_of)
    summary = score_accounts(as_of)

    assert summary.accounts == len(frame) > 0
    assert (frame[["open_tickets", "high_priority_open", "tickets_per_seat_90d"]] == 0).all().all()
    assert frame["first_reply_hours_90d"].isna().all()
    assert db.session.scalar(select(func.count()).select_from(HealthScore)) == summary.accounts


def test_the_survival_risk_agrees_with_the_health_models_90_day_risk(synthetic_book):
    as_of = synthetic_book(accounts=160)
    train_models(as_of, months=6, rounds=30, min_events=5)
    score_accounts(as_of, raise_flags=False)
    health = dict(
        db.session.execute(select(HealthScore.account_id, HealthScore.churn_probability)).all()
    )
    risks = db.session.scalars(select(ChurnRisk)).all()
    assert risks
    for risk in risks:
        assert risk.p_churn_90d == pytest.approx(health[risk.account_id], abs=1e-4)
        at_3_months = dict(risk.survival_curve)[3]
        assert 1 - at_3_months == pytest.approx(risk.p_churn_90d, abs=0.02)  # the chart too


@pytest.mark.parametrize("scorer", ["scorecard", "model"])
def test_stored_scores_and_probabilities_carry_only_the_digits_they_mean(synthetic_book, scorer):
    day = synthetic_book(accounts=160)
    if scorer == "model":
        train_models(day, months=6, rounds=30, min_events=5)
    assert score_accounts(day).method == scorer
    db.session.commit()
    rows = db.session.execute(select(HealthScore.score, HealthScore.churn_probability)).all()
    assert rows
    assert all(json.dumps(score) == json.dumps(round(score, 1)) for score, _ in rows)
    assert all(p is None or json.dumps(p) == json.dumps(round(p, 4)) for _, p in rows)


def test_scoring_in_chunks_writes_what_scoring_in_one_go_writes(synthetic_book, monkeypatch):
    as_of = synthetic_book(accounts=160)
    train_models(as_of, months=6, rounds=30, min_events=5)
    score_accounts(as_of - dt.timedelta(days=7), raise_flags=False)

    def night(chunk: int) -> tuple[list, list, list]:
        monkeypatch.setattr("scoring.runs.CHUNK_ACCOUNTS", chunk)
        db.session.execute(delete(Task))
        score_accounts(as_of)
        health, risks = HealthScore.__table__, ChurnRisk.__table__
        return (
            db.session.execute(
                select(*(c for c in health.c if c.name not in ("id", "updated_at")))
                .where(health.c.scored_on == as_of)
                .order_by(health.c.account_id)
            ).all(),
            db.session.execute(
                select(*(c for c in risks.c if c.name not in ("id", "updated_at")))
                .where(risks.c.scored_on == as_of)
                .order_by(risks.c.account_id)
            ).all(),
            db.session.execute(
                select(Task.account_id, Task.reason, Task.title, Task.details).order_by(
                    Task.account_id, Task.reason
                )
            ).all(),
        )

    chunked = night(7)
    assert len(chunked[0]) > 7 * 3 and any(row.changes for row in chunked[0]) and chunked[2]
    assert night(10_000) == chunked

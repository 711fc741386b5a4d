"""The survival model on small synthetic frames: the family chosen by inner cross-validation,
stratified curves in row order, absolute probabilities against a known hazard."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scoring import survival
from scoring.encoding import FeatureError
from scoring.survival import SurvivalModel

Frames = tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series | None]


def plans(seed: int = 0, rows: int = 500, *, late: bool = True, coded: bool = False) -> Frames:
    """Three plans whose hazards have different shapes (0.5, 1.5, 4: they cross, so the plan
    breaks proportional hazards) and a covariate `x` with a proportional effect within each."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["a", "b", "c"], rows)
    shape = np.select([plan == "a", plan == "b"], [0.5, 1.5], 4.0)
    x = rng.normal(size=rows)
    months = 10 * (rng.exponential(size=rows) / np.exp(x)) ** (1 / shape)
    label = pd.Categorical(np.searchsorted(["a", "b", "c"], plan) + 1) if coded else plan
    frame = pd.DataFrame({"plan": label, "x": x})
    entries = pd.Series(rng.uniform(0, 0.5, rows) * np.minimum(months, 20)) if late else None
    return frame, pd.Series(np.minimum(months, 20)), pd.Series((months < 20).astype(int)), entries


def exponential(rows: int = 400, seed: int = 1, *, u_shaped: bool = False) -> Frames:
    """One row per customer, constant hazard; log-linear in `x`, or in x² when `u_shaped`."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    months = rng.exponential(10 / np.exp(1.2 * x**2 if u_shaped else 0.8 * x))
    frame = pd.DataFrame({"x": x, "noise": rng.normal(size=rows)})
    return frame, pd.Series(np.minimum(months, 24)), pd.Series((months < 24).astype(int)), None


def snapshots(accounts: int = 600, hazard: float = 0.02, seed: int = 1) -> pd.DataFrame:
    """Monthly snapshot rows (account, start, stop, event) of accounts already some months into
    their contract when observation starts, churning at a known constant monthly `hazard`."""
    rng = np.random.default_rng(seed)
    life, seen_from = rng.exponential(1 / hazard, accounts), rng.uniform(0, 40, accounts)
    alive = life > seen_from
    life, seen_from, account = life[alive], seen_from[alive], np.flatnonzero(alive)
    end = np.minimum(life, seen_from + 12)
    parts = []
    for month in range(12):
        start = seen_from + month
        stop = np.minimum(end, start + 1)
        keep = stop > start
        churned = (life <= stop) & (stop == end)
        parts.append(
            pd.DataFrame({"account": account[keep], "noise": rng.normal(size=keep.sum()),
                          "start": start[keep], "stop": stop[keep],
                          "event": churned[keep].astype(int)})
        )  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def fit(data: Frames, **options) -> SurvivalModel:
    frame, durations, events, entries = data
    return SurvivalModel.fit(frame, durations, events, entries, **options)


def scores(model: SurvivalModel) -> dict[str, float]:
    return {c["name"]: c["c_index_cv"] for c in model.summary()["candidates"]}


@pytest.mark.parametrize("coded", [False, True], ids=["text plan", "numeric-coded plan"])
@pytest.mark.parametrize("late", [False, True], ids=["from tenure 0", "late entries"])
def test_a_stratified_model_gives_each_account_its_own_curve(late: bool, coded: bool):
    frame, durations, events, entries = plans(late=late, coded=coded)
    model = SurvivalModel.fit(
        frame, durations, events, entries, families=("cox_strata",), penalizers=(0.01,)
    )
    assert model.kind == "cox_strata" and model.strata == ["plan"]
    rng = np.random.default_rng(3)
    picked = frame.sample(40, random_state=3).set_axis(rng.permutation(1000)[:40])
    tenure = pd.Series(rng.uniform(0, 10, 40), index=picked.index)
    together = model.survival(picked, tenure)
    for label in picked.index:
        alone = model.survival(picked.loc[[label]], tenure.loc[[label]])
        assert np.allclose(together.loc[label], alone.iloc[0])
    one_each = frame.drop_duplicates("plan").assign(x=0.0)
    curves = model.survival(one_each, pd.Series(np.zeros(3))).round(6)
    assert len(curves.drop_duplicates()) == 3  # every plan has its own baseline


def test_a_categorical_that_breaks_proportional_hazards_with_late_entries_wins_stratified():
    model = fit(plans(), penalizers=(0.01,))
    assert {"plan=a", "plan=b"} <= set(model.ph_violations)
    assert model.kind == "cox_strata" and model.strata == ["plan"]
    assert scores(model)["cox_strata penalizer=0.01"] > scores(model)["cox penalizer=0.01"]


@pytest.mark.parametrize("family", ["weibull_aft", "loglogistic_aft"])
def test_an_aft_family_wins_over_cox_when_hazard_shapes_differ(family: str):
    model = fit(plans(), families=("cox", family), penalizers=(0.01,))
    assert model.kind == family
    assert model.summary()["why"].startswith(family)


def test_cox_wins_proportional_hazards_data_as_the_simplest_of_tied_candidates():
    model = fit(exponential(), families=("cox", "weibull_aft", "loglogistic_aft"))
    assert model.kind == "cox"
    c_index = scores(model)
    assert max(c_index.values()) - c_index[model.summary()["chosen"]] <= survival.TIE
    assert model.summary()["penalizer"] == min(survival.PENALIZERS)  # ties: the weakest


def test_xgboost_wins_a_u_shaped_effect_that_linear_families_cannot_rank():
    model = fit(exponential(u_shaped=True), families=("cox", "xgb_cox"), penalizers=(0.01,))
    assert model.kind == "xgb_cox" and model.summary()["penalizer"] is None
    assert scores(model)["xgb_cox"] > scores(model)["cox penalizer=0.01"] + 0.1


def test_xgboost_is_not_offered_when_rows_start_late():
    model = fit(plans(rows=300), families=("cox", "xgb_cox"), penalizers=(0.01,))
    assert list(scores(model)) == ["cox penalizer=0.01"]
    with pytest.raises(FeatureError, match="none of the survival families"):
        fit(plans(rows=300), families=("xgb_cox",))


def test_summary_lists_every_candidate_and_says_why_in_json():
    model = fit(exponential(rows=300))
    summary = json.loads(json.dumps(model.summary()))
    assert {"kind", "penalizer", "strata", "ph_violations", "chosen", "why"} <= set(summary)
    names = [c["name"] for c in summary["candidates"]]
    assert names == [
        "cox penalizer=0.001",
        "cox penalizer=0.01",
        "cox penalizer=0.1",
        "weibull_aft penalizer=0.001",
        "loglogistic_aft penalizer=0.001",
        "xgb_cox",
    ]
    assert all(c["c_index_cv"] > 0.5 and c["seconds"] >= 0 for c in summary["candidates"])
    assert summary["chosen"] in names and summary["why"].endswith(".")


def test_grouped_folds_keep_each_account_in_one_fold():
    rows = snapshots(accounts=300)
    folds = survival._folds(rows["event"].to_numpy(), rows["account"].to_numpy(), seed=7)
    assert len(folds) == survival.FOLDS
    held = [set(rows["account"].iloc[test]) for _, test in folds]
    assert sum(len(accounts) for accounts in held) == rows["account"].nunique()
    assert set.union(*held) == set(rows["account"])


def test_a_large_book_is_cross_validated_on_whole_accounts(monkeypatch):
    rows = snapshots(accounts=300)
    monkeypatch.setattr(survival, "MAX_CV_ROWS", 1000)
    picked = survival._cv_sample(rows["account"].to_numpy(), seed=7)
    assert 900 < len(picked) <= 1000
    counts = rows["account"].value_counts()
    kept = rows["account"].iloc[picked].value_counts()
    assert (kept == counts[kept.index]).all()  # no account split


@pytest.mark.parametrize("family", ["cox", "weibull_aft", "loglogistic_aft"])
def test_each_family_gives_the_true_probability_of_a_known_hazard_on_snapshot_rows(family):
    rows = snapshots()
    model = SurvivalModel.fit(
        rows[["noise"]],
        rows["stop"],
        rows["event"],
        rows["start"],
        groups=rows["account"],
        families=(family,),
        penalizers=(0.01,),
    )
    risk = model.predict(pd.DataFrame({"noise": [0.0]}), pd.Series([20.0]), pd.Series([12.0]))
    true_year = 1 - np.exp(-0.02 * 12)  # 21 %; lifelines' own baseline said about 1.4 %
    assert risk["p_churn_before_renewal"].iloc[0] == pytest.approx(true_year, rel=0.25)


def test_xgboost_gives_the_true_probability_of_a_known_hazard():
    rng = np.random.default_rng(5)
    months = rng.exponential(50, 1500)
    frame = pd.DataFrame({"noise": rng.normal(size=1500)})
    data = (frame, pd.Series(np.minimum(months, 36)), pd.Series((months < 36).astype(int)), None)
    model = fit(data, families=("xgb_cox",))
    risk = model.predict(frame.head(1).assign(noise=0.0), pd.Series([6.0]), pd.Series([12.0]))
    assert risk["p_churn_before_renewal"].iloc[0] == pytest.approx(1 - np.exp(-12 / 50), rel=0.25)


@pytest.mark.parametrize(
    ("data", "options"),
    [
        (plans(rows=300), {"families": ("cox_strata",), "penalizers": (0.01,)}),
        (exponential(rows=300), {"families": ("xgb_cox",)}),
        (exponential(rows=300), {"families": ("loglogistic_aft",)}),
    ],
    ids=["cox_strata", "xgb_cox", "loglogistic_aft"],
)
def test_a_model_predicts_the_same_after_a_round_trip_through_its_artifact(data, options):
    model = fit(data, **options)
    again = SurvivalModel.from_bytes(model.to_bytes())
    frame = data[0].head(30)
    tenure, renewal = pd.Series(np.full(30, 3.0)), pd.Series(np.full(30, 9.0))
    assert again.predict(frame, tenure, renewal).equals(model.predict(frame, tenure, renewal))
    assert again.summary() == model.summary()


def test_rows_without_a_single_churn_are_refused():
    frame, durations, events, _ = exponential(rows=100)
    with pytest.raises(FeatureError, match="no churn events"):
        SurvivalModel.fit(frame, durations, events * 0)


def test_an_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown survival families"):
        fit(exponential(rows=100), families=("cox", "lognormal"))


def test_anchored_curves_agree_with_the_health_models_90_day_risk_and_keep_their_shape():
    from scoring.survival import GRID, MONTH_DAYS, _at, anchored

    hazard = np.array([[0.01], [0.03], [0.0], [0.02]])
    curves = np.exp(-hazard * GRID[None, :])  # constant monthly hazards; row 2 never churns
    p_90d = np.array([0.2, 0.05, 0.1, np.nan])
    result = anchored(curves, p_90d)
    at_90d = 1 - _at(result, 90 / MONTH_DAYS)
    assert at_90d[:3] == pytest.approx(p_90d[:3], abs=1e-4)  # grid interpolation
    assert np.array_equal(result[3], curves[3])  # no health risk: the survival model's own
    assert (np.diff(result, axis=1) <= 1e-12).all()  # still a survival curve
    # shape kept: the anchored curve of a constant hazard is still a constant hazard
    assert np.log(result[0, 1:]) / GRID[1:] == pytest.approx(np.log(result[0, 1]) / GRID[1])

"""`flask scoring evaluate`: an honest held-out report on any CSV (the classifiers never see the
duration), a warning when the duration gives the outcome away, an HTML page that is safe with
any column name, and clear errors on bad files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scoring import evaluate as evaluate_module
from scoring.evaluate import EvaluateError, evaluate, format_report, leakage, prepare
from scoring.report import render_html

MALICIOUS = "<img src=x onerror=alert(1)>"


def history(rows: int = 300, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    contract = rng.choice(["monthly", "yearly"], rows)
    charges = rng.uniform(20, 100, rows)
    hazard = np.exp(0.02 * charges + np.where(contract == "monthly", 1.0, -1.0))
    tenure = rng.exponential(60 / hazard)
    return pd.DataFrame(
        {
            "customer": [f"c{i}" for i in range(rows)],
            "tenure": np.minimum(tenure, 72).round(1),
            "churn": np.where(tenure < 72, "Yes", "No"),
            MALICIOUS: contract,
            "charges": [f"{c:.2f}" if i % 50 else " " for i, c in enumerate(charges)],
        }
    )


@pytest.fixture(scope="module")
def watched():
    """One evaluation, with every feature table the models were fitted on recorded."""
    seen: list[list[str]] = []
    fit_health = evaluate_module.HealthModel.fit
    fit_encoder = evaluate_module.FeatureEncoder.fit

    def health(features, labels, **options):
        seen.append(list(features.columns))
        return fit_health(features, labels, **options)

    def encoder(frame, **options):
        seen.append(list(frame.columns))
        return fit_encoder(frame, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate_module.HealthModel, "fit", health)
        patch.setattr(evaluate_module.FeatureEncoder, "fit", encoder)
        report = evaluate(
            history(),
            id_col="customer",
            duration_col="tenure",
            event_col="churn",
            folds=3,
            rounds=20,
        )
    return report, seen


def test_evaluate_reports_held_out_and_k_fold_metrics_beside_the_baselines(watched):
    report, _ = watched
    health, survival = report["holdout"]["health"], report["holdout"]["survival"]
    assert health["product"]["auc"] > 0.6 and health["logistic"]["auc"] > 0.6
    assert survival["product"]["c_index"] > 0.6 and survival["cox"]["c_index"] > 0.6
    assert health["summary"]["learner"] in {"xgboost", "logistic"}
    assert survival["summary"]["chosen"] in {c["name"] for c in survival["summary"]["candidates"]}
    assert len(health["calibration"]) == 10
    assert [g["group"] for g in survival["risk_groups"]] == ["low", "middle", "high"]
    assert report["kfold"]["folds"] == 3 and "cox_c_index" in report["kfold"]
    assert "charges" in report["features"]  # numbers stored as text, blanks as missing
    assert [c["metric"] for c in report["comparisons"]] == ["AUC", "C-index"]
    text = format_report(report)
    assert "Logistic baseline AUC" in text and "Cox penalizer=0.1 C-index" in text
    assert health["summary"]["why"] in text and survival["summary"]["why"] in text


def test_the_classifiers_never_see_the_duration_column(watched):
    report, seen = watched
    assert seen and all("tenure" not in columns for columns in seen)
    assert "tenure" not in report["features"]
    mark = report["landmark"]
    assert mark["rows_labelled"] + mark["left_out"] == report["rows"]


def test_a_duration_that_gives_the_churn_away_raises_a_leakage_warning(watched):
    report, _ = watched
    assert report["leakage"]["duration_auc"] > 0.7
    assert any(line.startswith("Warning: the duration alone") for line in report["verdicts"])


def test_a_duration_unrelated_to_churn_raises_no_warning_but_a_duration_proxy_does():
    frame = history()
    rng = np.random.default_rng(5)
    frame["tenure"] = rng.uniform(1, 72, len(frame)).round(1)
    frame["total_spent"] = frame["tenure"] * 30 + rng.normal(0, 5, len(frame))
    found = leakage(prepare(frame, duration_col="tenure", event_col="churn"))
    assert found["duration_auc"] < 0.7
    assert [p["column"] for p in found["proxies"]] == ["total_spent"]


def test_a_loss_against_the_baseline_is_said_plainly():
    report = {
        "comparisons": evaluate_module.comparisons(
            {
                "health": {
                    "summary": {"chosen": "xgboost depth 3"},
                    "product": {"auc": 0.70},
                    "logistic": {"auc": 0.75},
                },
                "survival": {
                    "summary": {"chosen": "weibull_aft"},
                    "product": {"c_index": 0.80},
                    "cox": {"c_index": 0.79},
                },
            }
        ),
        "holdout": {"health": {"product": {"brier": 0.20}, "logistic": {"brier": 0.18}}},
        "leakage": {"duration_auc": 0.5, "proxies": []},
    }
    health, survival, calibration = evaluate_module.verdicts(report)
    assert "the product LOSES: the logistic baseline is better here" in health
    assert "0.7500 vs 0.7000" in health
    assert "beats or ties" in survival
    assert calibration == (
        "Calibration: the logistic baseline has the lower held-out Brier score "
        "(0.1800 vs 0.2000 for the product)."
    )


def test_the_id_column_is_optional_and_a_distinct_text_column_is_left_out_as_an_id():
    frame = history(rows=120)
    named = prepare(frame, id_col="customer", duration_col="tenure", event_col="churn")
    guessed = prepare(frame, duration_col="tenure", event_col="churn")
    assert list(named.features.columns) == list(guessed.features.columns)
    assert guessed.notes == ["column 'customer' left out: it looks like an id (distinct text)"]
    plain = prepare(frame.drop(columns=["customer"]), duration_col="tenure", event_col="churn")
    assert list(plain.features.columns) == list(named.features.columns) and not plain.notes


def test_nul_bytes_in_a_text_column_are_dropped_instead_of_crashing_the_evaluation():
    frame = history(rows=160)
    frame["plan"] = np.where(np.arange(160) % 2, "pro\x00", "basic")
    report = evaluate(frame, duration_col="tenure", event_col="churn", folds=2, rounds=3)
    assert "plan" in report["features"]
    assert "\x00" not in json.dumps(report)


def test_the_html_report_embeds_its_pictures_and_escapes_a_malicious_column_name(watched):
    report, _ = watched
    report = {**report, "holdout": {**report["holdout"]}}
    report["holdout"]["health"] = {**report["holdout"]["health"], "top_features": [MALICIOUS]}

    html = render_html(report)

    assert html.count('src="data:image/png;base64,') == 4
    assert MALICIOUS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["tenure"]), "column 'tenure' not found"),
        (lambda f: f.drop(columns=["churn"]), "column 'churn' not found"),
        (
            lambda f: f.assign(tenure=f["tenure"].astype(str).where(f.index != 3, "soon")),
            "column 'tenure' has a non-numeric value 'soon'",
        ),
        (
            lambda f: f.assign(tenure=f["tenure"].where(f.index != 5, -2.0)),
            "column 'tenure' has a negative duration",
        ),
        (
            lambda f: f.assign(churn=f["churn"].where(f.index != 7, "maybe")),
            "column 'churn' has 'maybe'",
        ),
        (lambda f: f.assign(region="emea"), "column 'region' is constant"),
        (lambda f: f.assign(notes=None), "column 'notes' is empty"),
    ],
)
def test_evaluate_names_the_column_that_is_wrong(change, message):
    with pytest.raises(EvaluateError, match=message):
        evaluate(
            change(history(rows=120)),
            id_col="customer",
            duration_col="tenure",
            event_col="churn",
            folds=2,
            rounds=3,
        )


def test_a_horizon_nobody_reaches_is_refused_with_advice():
    with pytest.raises(EvaluateError, match="choose another --landmark/--horizon"):
        evaluate(history(rows=120), duration_col="tenure", event_col="churn", horizon=500)


def test_evaluate_command_prints_json_and_writes_the_html_page(runner, tmp_path):
    path, page = tmp_path / "history.csv", tmp_path / "report.html"
    history(rows=200).drop(columns=["customer"]).to_csv(path, index=False)
    result = runner.invoke(
        args=[
            "scoring",
            "evaluate",
            str(path),
            "--duration-col",
            "tenure",
            "--event-col",
            "churn",
            "--folds",
            "2",
            "--rounds",
            "10",
            "--json",
            "--html",
            str(page),
        ]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"] == 200 and report["seed"] == 7
    assert page.read_text(encoding="utf-8").count("data:image/png;base64,") == 4


def test_evaluate_command_fails_with_one_readable_line_on_a_wrong_column(runner, tmp_path):
    path = tmp_path / "history.csv"
    history(rows=50).to_csv(path, index=False)
    result = runner.invoke(
        args=[
            "scoring",
            "evaluate",
            str(path),
            "--id-col",
            "id",
            "--duration-col",
            "tenure",
            "--event-col",
            "churn",
        ]
    )
    assert result.exit_code == 1
    assert "column 'id' not found" in result.output

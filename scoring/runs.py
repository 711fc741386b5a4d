"""The scoring runs: nightly scoring into HealthScore/ChurnRisk history (idempotent per day) and
training with champion/challenger. Callers (jobs, CLI) commit; these functions only flush, so a
run that fails leaves the history and the active models as they were. Training fits and evaluates
both models before it writes anything, so its write transaction (on SQLite a database-wide lock)
lasts only as long as registering them."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
from flask import current_app
from sqlalchemy import delete, insert

from cs_platform import clock
from cs_platform.bulk_writes import JSONText, upsert
from cs_platform.extensions import Model, db
from cs_platform.models import TimelineEntry, utcnow
from scoring.changes import Lookback, Scorer, lookbacks, score_changes
from scoring.encoding import FeatureError
from scoring.events import health_score_changes, publish_health_score_changes
from scoring.features import (
    CONTEXT_FEATURES,
    FEATURES,
    LEVER_DIRECTIONS,
    MONTH_DAYS,
    feature_snapshot,
    model_inputs,
)
from scoring.health_model import HealthModel
from scoring.model_metrics import classifier_metrics
from scoring.models import QUARANTINE_LISTED, ChurnRisk, HealthScore, ModelVersion, ScoringRun
from scoring.registry import Candidate, load_active, register
from scoring.risk_flags import FlagThresholds, driver_details, raise_risk_flags
from scoring.scorecard import Scorecard
from scoring.services import load_scorecard, model_bands
from scoring.survival import SurvivalModel
from scoring.training import NotEnoughHistoryError, TrainingData, build_training_data, split_by_time

log = logging.getLogger(__name__)
DAY_KEY = ("account_id", "scored_on")  # one HealthScore/ChurnRisk row per account and day
# Accounts scored at a time: bounds the Python objects (drivers, changes, rows) held at once.
CHUNK_ACCOUNTS = 20_000


@dataclass
class ScoringSummary:
    day: dt.date
    accounts: int
    method: str
    health_version: int | None = None
    survival_version: int | None = None
    flags: int = 0
    seconds: float = 0.0
    quarantined: int = 0

    def describe(self) -> str:
        models = f"health model v{self.health_version}" if self.health_version else "scorecard"
        risk = f", survival model v{self.survival_version}" if self.survival_version else ""
        left_out = f"; {self.quarantined} not scored (bad data)" if self.quarantined else ""
        return (
            f"scored {self.accounts} accounts for {self.day} with the {models}{risk}{left_out}; "
            f"{self.flags} new risk tasks ({self.seconds:.1f} s)"
        )


@dataclass
class TrainingSummary:
    versions: dict[str, ModelVersion] = field(default_factory=dict)

    def describe(self) -> str:
        lines = []
        for kind, version in self.versions.items():
            compared = version.metrics.get("comparisons", {})
            worse = ", ".join(name for name, row in compared.items() if not row["not_worse"])
            state = "activated" if version.active else f"kept the active model (worse on {worse})"
            metrics = {k: v for k, v in version.metrics.items() if isinstance(v, float)}
            lines.append(f"{kind} v{version.id}: {state}; {metrics}")
        return "\n".join(lines)


def health_scores(
    inputs: pd.DataFrame, scorecard: Scorecard, model: HealthModel | None
) -> tuple[pd.DataFrame, str, Scorer]:
    """Scores by the learned model when there is one, otherwise by the scorecard; with the
    scorer that made them."""
    if model is not None:
        try:
            scored = model.score(inputs, **model_bands())
        except FeatureError as error:
            log.error("health model cannot score; scorecard used", extra={"error": str(error)})
        else:
            return scored, "model", model
    return scorecard.score(inputs), "scorecard", scorecard


def churn_risks(
    frame: pd.DataFrame, model: SurvivalModel, p_90d: np.ndarray | None = None
) -> pd.DataFrame | None:
    """The survival model's risks for each account of a feature frame, anchored to the health
    model's 90-day risk `p_90d` where there is one (one risk on every view), or None (logged)
    when the model cannot read today's features: health scores still get written, and the next
    retraining fixes the model."""
    months_to_renewal = frame["days_to_renewal"].fillna(365.0) / MONTH_DAYS
    try:
        return model.predict(
            model_inputs(frame), frame["tenure_months"], months_to_renewal, anchor_90d=p_90d
        )
    except FeatureError as error:
        log.error("survival model cannot score; no churn risk today", extra={"error": str(error)})
        return None


def score_accounts(day: dt.date | None = None, *, raise_flags: bool = True) -> ScoringSummary:
    """Score every live account as of `day` (today) and write that day's history, with a
    ScoringRun row saying how long it took and which accounts it quarantined (their data cannot
    be scored: logged, left out, everyone else scored); flushes. `raise_flags=False` writes the
    history without opening risk tasks: a replay of past days, such as the demo's backfill, must
    not leave tasks that were due months ago. Accounts are scored CHUNK_ACCOUNTS at a time, so
    only one chunk's drivers, changes and rows are held as Python objects."""
    started, started_at = time.perf_counter(), utcnow()
    day = day or clock.today()
    frame, quarantined = feature_snapshot(day)
    listed = log_quarantined(day, quarantined)
    health = load_active("health")
    night = HealthNight(day, load_scorecard(), health, lookbacks(day) if len(frame) else [])
    write_rows(HealthScore, night.rows(frame))
    scores = night.scores()
    summary = ScoringSummary(
        day, len(frame), night.method, night.version, quarantined=len(quarantined)
    )
    changes = health_score_changes(day)
    publish_health_score_changes(changes)
    log_score_changes(day, changes)
    survival = load_active("survival")
    risks = None
    if survival is not None and len(frame):
        risks = write_churn_risks(day, frame, survival, scores["churn_probability"].to_numpy())
        if risks is not None:
            summary.survival_version = survival[1].id
    if raise_flags:
        summary.flags = raise_risk_flags(day, frame, scores, risks, FlagThresholds.from_config())
    summary.seconds = time.perf_counter() - started
    db.session.add(
        ScoringRun(
            scored_on=day,
            method=summary.method,
            accounts=summary.accounts,
            started_at=started_at,
            duration_seconds=summary.seconds,
            quarantined=summary.quarantined,
            quarantined_accounts=listed,
        )
    )
    db.session.flush()
    log.info("accounts scored for %s", day, extra={"summary": summary.describe()})
    return summary


def chunks(rows: int) -> Iterator[slice]:
    """The positions of `rows` rows, CHUNK_ACCOUNTS at a time (one empty chunk for none)."""
    for start in range(0, max(rows, 1), CHUNK_ACCOUNTS):
        yield slice(start, start + CHUNK_ACCOUNTS)


@dataclass
class HealthNight:
    """The day's health scores, chunk by chunk: each chunk is scored, its changes found and
    its rows written, and only the figures the rest of the night reads are kept."""

    day: dt.date
    scorecard: Scorecard
    health: tuple[HealthModel, ModelVersion] | None
    looks: list[Lookback]
    method: str = ""
    kept: list[pd.DataFrame] = field(default_factory=list)

    @property
    def version(self) -> int | None:
        """The health model version that scored, None for the scorecard."""
        return self.health[1].id if self.health and self.method == "model" else None

    def rows(self, frame: pd.DataFrame) -> Iterator[dict]:
        """The HealthScore rows of every account of `frame`, scored a chunk at a time; the
        scorer chosen on the first chunk scores them all."""
        for rows in chunks(len(frame)):
            part = frame.iloc[rows]
            model = self.health[0] if self.health and self.method != "scorecard" else None
            scores, self.method, scorer = health_scores(model_inputs(part), self.scorecard, model)
            if len(part):
                scores["changes"] = score_changes(part, scores, scorer, self.looks)
            self.kept.append(
                pd.DataFrame(
                    {
                        "score": scores["score"].astype(float),
                        "churn_probability": scores["churn_probability"].astype(float),
                        "details": driver_details(scores["drivers"]),
                    },
                    index=part.index,
                )
            )
            yield from _health_rows(self.day, part, scores, self.version)

    def scores(self) -> pd.DataFrame:
        """Every account's score, churn probability and risk-task details, in frame order."""
        return pd.concat(self.kept)


def write_churn_risks(
    day: dt.date,
    frame: pd.DataFrame,
    survival: tuple[SurvivalModel, ModelVersion],
    p_90d: np.ndarray,
) -> pd.DataFrame | None:
    """Write the survival model's risks of every account of `frame`, a chunk at a time; returns
    the risk figures (no curves), or None when the model cannot read today's features."""
    model, version = survival
    figures: list[pd.DataFrame] = []

    def rows() -> Iterator[dict]:
        for rows in chunks(len(frame)):
            part = frame.iloc[rows]
            risks = churn_risks(part, model, p_90d[rows])
            if risks is None:
                return
            figures.append(risks.drop(columns="survival_curve"))
            yield from _risk_rows(day, part, risks, version.id)

    write_rows(ChurnRisk, rows())
    return pd.concat(figures) if figures else None


def log_quarantined(day: dt.date, quarantined: pd.DataFrame) -> list[dict[str, Any]]:
    """Log the accounts left out of the day's scoring by id and reason (no personal data), the
    first QUARANTINE_LISTED one line each; returns those as {account_id, reason}."""
    listed = [
        {"account_id": int(account_id), "reason": reason}
        for account_id, reason in quarantined.head(QUARANTINE_LISTED).itertuples(index=False)
    ]
    for entry in listed:
        log.warning(
            "account %d not scored for %s: %s",
            entry["account_id"],
            day,
            entry["reason"],
            extra=entry,
        )
    if len(quarantined) > len(listed):
        log.warning("%d more accounts not scored for %s", len(quarantined) - len(listed), day)
    return listed


def log_score_changes(day: dt.date, changes: list[dict[str, Any]]) -> None:
    """One `score_change` line per changed account in its timeline, dated the scoring day;
    a re-run of the day replaces the day's lines instead of adding more."""
    stamp = dt.datetime.combine(day, dt.time())
    db.session.execute(
        delete(TimelineEntry).where(
            TimelineEntry.kind == "score_change", TimelineEntry.created_at == stamp
        )
    )
    if changes:
        db.session.execute(
            insert(TimelineEntry),
            [
                {"account_id": change["account_id"], "kind": "score_change",
                 "created_at": stamp, "body": score_change_text(change)}
                for change in changes
            ],
        )  # fmt: skip


def score_change_text(change: dict[str, Any]) -> str:
    """'Health 71 → 48 (green → red)', or without the bands when the band held."""
    text = f"Health {change['previous_score']:.0f} → {change['score']:.0f}"
    if change["previous_band"] != change["band"]:
        text += f" ({change['previous_band']} → {change['band']})"
    return text


def _health_rows(
    day: dt.date, frame: pd.DataFrame, scores: pd.DataFrame, version: int | None
) -> Iterator[dict]:
    now = utcnow()
    probability = scores["churn_probability"].astype(float).to_numpy()
    for account_id, score, band, p, drivers, context, changes in zip(
        frame["account_id"].tolist(),
        scores["score"].tolist(),
        scores["band"].tolist(),
        probability.tolist(),
        scores["drivers"].tolist(),
        scores["context"].tolist(),
        scores["changes"].tolist() if "changes" in scores else [{}] * len(frame),
        strict=True,
    ):
        yield {
            "account_id": account_id,
            "scored_on": day,
            # Rounded as Python floats: a float32 score would store 95.19999694824219 for 95.2.
            "score": round(float(score), 1),
            "band": band,
            "method": "model" if version else "scorecard",
            "churn_probability": None if np.isnan(p) else round(p, 4),
            "model_version_id": version,
            "drivers": drivers,
            "context": context,
            "changes": changes,
            "updated_at": now,
        }


def _risk_rows(
    day: dt.date, frame: pd.DataFrame, risks: pd.DataFrame, version: int
) -> Iterator[dict]:
    now = utcnow()
    columns = ["p_churn_before_renewal", "p_churn_90d", "expected_remaining_months"]
    for account_id, curve, *values in zip(
        frame["account_id"].tolist(),
        risks["survival_curve"].tolist(),
        *(risks[c].tolist() for c in columns),
        strict=True,
    ):
        yield {
            "account_id": account_id,
            "scored_on": day,
            **dict(zip(columns, values, strict=True)),
            "survival_curve": JSONText(curve),
            "model_version_id": version,
            "updated_at": now,
        }


def write_rows(model: type[Model], rows: Iterator[dict]) -> None:
    """Insert or replace each (account, day) row: running a day twice leaves one row each."""
    columns = [c.name for c in model.__table__.columns if c.name not in ("id", *DAY_KEY)]
    upsert(model.__table__, rows, DAY_KEY, columns)


def train_models(
    as_of: dt.date | None = None,
    *,
    months: int | None = None,
    rounds: int | None = None,
    min_events: int | None = None,
    seed: int = 7,
) -> TrainingSummary:
    """Train both models on monthly snapshots, then register them together (champion/challenger);
    flushes. Raises NotEnoughHistoryError when there are too few churn events to learn from."""
    candidates = fit_candidates(
        as_of, months=months, rounds=rounds, min_events=min_events, seed=seed
    )
    return register_candidates(candidates)


def fit_candidates(
    as_of: dt.date | None = None,
    *,
    months: int | None = None,
    rounds: int | None = None,
    min_events: int | None = None,
    seed: int = 7,
) -> list[Candidate]:
    """Fit both models and measure them and the active ones on held-out rows; only reads.
    Raises NotEnoughHistoryError when there are too few churn events to learn from."""
    config = current_app.config
    as_of = as_of or clock.today()
    months = months or config["SCORING_TRAINING_MONTHS"]
    min_events = config["SCORING_MIN_CHURN_EVENTS"] if min_events is None else min_events
    data = build_training_data(as_of, months)
    if data.churn_events < max(min_events, 2):
        raise NotEnoughHistoryError(
            f"only {data.churn_events} accounts churned in the last {months} months; training "
            f"needs at least {min_events} (SCORING_MIN_CHURN_EVENTS). "
            "The rule-based scorecard keeps scoring."
        )
    rounds = rounds or config["SCORING_BOOST_ROUNDS"]
    return [_train_health(data, rounds, seed), _train_survival(data)]


def register_candidates(candidates: list[Candidate]) -> TrainingSummary:
    """Register fitted candidates in the order given (health before survival, so concurrent
    trainings take the per-kind activation locks in one order); flushes."""
    return TrainingSummary({candidate.kind: register(candidate) for candidate in candidates})


def train_and_commit(**options: Any) -> TrainingSummary:
    """`train_models` in its own transaction: committed when it succeeds, rolled back (the
    active models untouched) when it fails."""
    try:
        summary = train_models(**options)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return summary


def _held_out(frame: pd.DataFrame, label: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = split_by_time(frame)
    if train[label].nunique() < 2 or test[label].nunique() < 2:
        raise NotEnoughHistoryError(
            "the training or the held-out months have no churn at all; wait for more history. "
            "The rule-based scorecard keeps scoring."
        )
    return train, test


def _train_health(data: TrainingData, rounds: int, seed: int) -> Candidate:
    train, test = _held_out(data.health, "label")
    started = time.perf_counter()
    model = HealthModel.fit(
        model_inputs(train),
        train["label"],
        rounds=rounds,
        seed=seed,
        groups=train["account_id"],
        directions=LEVER_DIRECTIONS,
        context=CONTEXT_FEATURES,
    )
    seconds = round(time.perf_counter() - started, 2)
    test_inputs = model_inputs(test)
    metrics = held_out_metrics("health", model, test_inputs, test)
    metrics |= {
        "train_rows": len(train),
        "train_seconds": seconds,
        "churn_events": data.churn_events,
    }
    return Candidate(
        "health",
        model.to_bytes(),
        features=list(FEATURES),
        parameters={
            "max_rounds": rounds,
            "seed": seed,
            "importance": model.importance(),
            **model.summary(),
        },
        metrics=metrics,
        champion=_champion_metrics("health", test_inputs, test),
    )


def _train_survival(data: TrainingData) -> Candidate:
    train, test = _held_out(data.survival, "event")
    started = time.perf_counter()
    model = SurvivalModel.fit(
        model_inputs(train),
        train["stop"],
        train["event"],
        train["start"],
        groups=train["account_id"],
    )
    seconds = round(time.perf_counter() - started, 2)
    test_inputs = model_inputs(test)
    metrics = held_out_metrics("survival", model, test_inputs, test)
    metrics |= {
        "train_rows": len(train),
        "train_seconds": seconds,
        "churn_events": data.churn_events,
    }
    return Candidate(
        "survival",
        model.to_bytes(),
        features=list(FEATURES),
        parameters=model.summary(),
        metrics=metrics,
        champion=_champion_metrics("survival", test_inputs, test),
    )


def held_out_metrics(
    kind: str, model: HealthModel | SurvivalModel, inputs: pd.DataFrame, test: pd.DataFrame
) -> dict[str, Any]:
    """What champion/challenger compares, of `model` on held-out rows: AUC and Brier score
    (health), C-index (survival). One function for both sides, so they are measured alike."""
    if kind == "health":
        return classifier_metrics(test["label"], cast(HealthModel, model).probability(inputs))
    c_index = cast(SurvivalModel, model).concordance(
        inputs, test["stop"] - test["start"], test["event"], entries=test["start"]
    )
    return {"c_index": round(c_index, 4)}


def _champion_metrics(kind: str, inputs: pd.DataFrame, test: pd.DataFrame) -> dict | None:
    """The active model's metrics on the challenger's held-out rows (None if there is none or
    it cannot read today's features)."""
    champion = load_active(kind)
    if champion is None:
        return None
    try:
        return held_out_metrics(kind, champion[0], inputs, test)
    except FeatureError:
        return None

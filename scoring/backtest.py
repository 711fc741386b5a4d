"""Backtest on the platform's own history: replay the last months one month at a time, scoring
with only what was known then (features as of that day, a health model trained only on snapshots
whose 90-day outcome was already known), and compare the learned model with the scorecard.

For each replayed day the top tenth of accounts by risk counts as flagged. Reported per method:
precision of that top decile (churned within 90 days), the share of churned accounts flagged in
the 180 days before they left, and the median number of days between the first such flag and the
churn (lead time).
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np
import pandas as pd

from cs_platform.progress import Progress
from scoring.features import features_as_of, model_inputs, stack
from scoring.health_model import HealthModel
from scoring.model_metrics import top_decile_precision
from scoring.services import load_scorecard
from scoring.training import HORIZON_DAYS, SNAPSHOT_STEP_DAYS, health_rows

LOOKBACK_DAYS = 180
TRAIN_SNAPSHOTS = 6
FLAG_SHARE = 0.1


def replay_days(as_of: dt.date, months: int) -> list[dt.date]:
    """The replayed days, oldest first, a month apart, ending a month before `as_of`: `months`
    whose 90-day outcome is complete on `as_of`, then those whose window is still open."""
    newest = -(-HORIZON_DAYS // SNAPSHOT_STEP_DAYS) + months - 1
    return [as_of - dt.timedelta(days=SNAPSHOT_STEP_DAYS * k) for k in range(newest, 0, -1)]


def is_complete(day: dt.date, as_of: dt.date) -> bool:
    """Whether the 90 days after `day` had all passed by `as_of`."""
    return day + dt.timedelta(days=HORIZON_DAYS) <= as_of


def _train_days(day: dt.date) -> list[dt.date]:
    """Snapshots before `day` whose 90-day labels were complete on `day`."""
    newest = day - dt.timedelta(days=HORIZON_DAYS)
    return [newest - dt.timedelta(days=SNAPSHOT_STEP_DAYS * k) for k in range(TRAIN_SNAPSHOTS)]


def _model_risk(day: dt.date, snapshot, rounds: int, seed: int, min_events: int) -> np.ndarray:
    """The churn probability of a model trained only on what was known on `day` (NaN without
    enough churn to learn from)."""
    # Each label looks 90 days past its snapshot, so no further than the replayed day.
    train = stack([health_rows(snapshot(d), d) for d in _train_days(day)])
    frame = snapshot(day)
    if train["label"].sum() < min_events or train["label"].nunique() < 2:
        return np.full(len(frame), np.nan)
    model = HealthModel.fit(model_inputs(train), train["label"], rounds=rounds, seed=seed)
    return model.probability(model_inputs(frame))


def flags_table(
    as_of: dt.date, months: int, rounds: int, seed: int, min_events: int
) -> pd.DataFrame:
    """One row per replayed day and live account: its risk by the model and by the scorecard,
    and whether it churned within 90 days."""
    snapshot = cache(features_as_of)
    scorecard = load_scorecard()  # the admin's, as the nightly run would have used
    parts = []
    days = replay_days(as_of, months)
    progress = Progress(len(days))
    for day in days:
        with progress.step(f"replaying {day}") as step:
            frame = snapshot(day)
            churned = pd.to_datetime(frame["churned_at"])
            horizon = pd.Timestamp(day + dt.timedelta(days=HORIZON_DAYS))
            scores = scorecard.score(model_inputs(frame))["score"].to_numpy(float)
            parts.append(
                {
                    "day": np.full(len(frame), np.datetime64(day, "ns")),
                    "account_id": frame["account_id"].to_numpy(),
                    "churned_at": churned.to_numpy("datetime64[ns]"),
                    "label": (churned <= horizon).to_numpy(int),
                    "model": _model_risk(day, snapshot, rounds, seed, min_events),
                    "scorecard": 100 - scores,
                }
            )
            step.detail = f"{len(frame):,} accounts"
    # Column by column: pandas' concat of frames with all-missing columns is deprecated.
    return pd.DataFrame({key: np.concatenate([part[key] for part in parts]) for key in parts[0]})


def summarise(table: pd.DataFrame, method: str) -> dict:
    """Precision of the top decile, share of churners flagged ahead and their median lead."""
    scored = table[table[method].notna()]
    if scored.empty:
        return {"days_scored": 0}
    precision = [
        top_decile_precision(group["label"], group[method]) for _, group in scored.groupby("day")
    ]
    cutoff = scored.groupby("day")[method].transform(lambda r: r.quantile(1 - FLAG_SHARE))
    flagged = scored[scored[method] >= cutoff]
    churners = scored.loc[scored["churned_at"].notna(), ["account_id", "churned_at"]]
    churners = churners.drop_duplicates("account_id")
    churners = churners[churners["churned_at"] > scored["day"].min()]
    ahead = flagged[
        flagged["churned_at"].notna()
        & (flagged["churned_at"] - flagged["day"] <= pd.Timedelta(days=LOOKBACK_DAYS))
    ]
    lead = (ahead["churned_at"] - ahead["day"]).dt.days.groupby(ahead["account_id"]).max()
    return {
        "days_scored": int(scored["day"].nunique()),
        "precision_top_decile": round(float(np.mean(precision)), 4),
        "churned_accounts": len(churners),
        "flagged_ahead_share": round(len(lead) / max(len(churners), 1), 4),
        "median_lead_days": float(lead.median()) if len(lead) else None,
    }


def backtest(
    as_of: dt.date, *, months: int = 12, rounds: int = 150, seed: int = 7, min_events: int = 10
) -> dict:
    """The backtest report for the learned model and the scorecard on the complete replays,
    and apart from them the replays whose outcome window is still open."""
    table = flags_table(as_of, months, rounds, seed, min_events)
    complete = table[table["day"] <= pd.Timestamp(as_of - dt.timedelta(days=HORIZON_DAYS))]
    return {
        "as_of": as_of.isoformat(),
        "months": months,
        **_part(complete),
        "open_window": _part(table.drop(complete.index)),
        "days": _per_day(table, as_of),
    }


def _part(table: pd.DataFrame) -> dict:
    return {
        "accounts_days": len(table),
        "base_rate_90d": round(float(table["label"].mean()), 4) if len(table) else None,
        "model": summarise(table, "model"),
        "scorecard": summarise(table, "scorecard"),
    }


def _per_day(table: pd.DataFrame, as_of: dt.date) -> list[dict]:
    """Each replay's accounts, 90-day churn rate (so far, if open) and whether it is complete."""
    rows = table.groupby("day")["label"].agg(["size", "mean"])
    return [
        {
            "day": day.date().isoformat(),
            "accounts": int(row["size"]),
            "base_rate_90d": round(float(row["mean"]), 4),
            "complete": is_complete(day.date(), as_of),
        }
        for day, row in rows.iterrows()
    ]


def format_backtest(report: dict) -> str:
    """The backtest as text for a terminal: the complete replays, then the open ones."""
    open_window = report["open_window"]
    lines = [
        f"Backtest to {report['as_of']}: {report['months']} monthly replays with a complete "
        f"90-day outcome, {report['accounts_days']} account-days, "
        f"90-day churn base rate {report['base_rate_90d']}",
        *_method_rows(report),
    ]
    if open_window["accounts_days"]:
        opened = [row for row in report["days"] if not row["complete"]]
        rates = ", ".join(f"{row['day']} {row['base_rate_90d']:.1%}" for row in opened)
        lines += [
            "",
            f"Reported apart: {len(opened)} replays less than 90 days before {report['as_of']}, "
            f"whose churn is only partly seen yet (base rate so far: {rates})",
            *_method_rows(open_window),
        ]
    return "\n".join(lines)


def _method_rows(part: dict) -> list[str]:
    lines = [
        f"{'method':<12}{'days':>6}{'top-decile precision':>22}{'churners':>10}"
        f"{'flagged ahead':>15}{'median lead (days)':>20}",
    ]
    for method in ("model", "scorecard"):
        row = part[method]
        if not row.get("days_scored"):
            lines.append(f"{method:<12}{0:>6}  (not enough churn history to train on any day)")
            continue
        lead = row["median_lead_days"]
        lines.append(
            f"{method:<12}{row['days_scored']:>6}{row['precision_top_decile']:>22.3f}"
            f"{row['churned_accounts']:>10}{row['flagged_ahead_share']:>15.1%}"
            f"{(f'{lead:.0f}' if lead is not None else '-'):>20}"
        )
    return lines

"""The floor of a nightly scoring run: the simplest fast version of the same work on the same
database, run beside the product by bench/scoring_runs.py.

One SQL query computes the feature aggregates (usage, tickets, surveys, invitations, contacts)
of every live account on a day, run for today and for each look-back day that the product's
change detection reads; pandas derives the same ratios; the active health model scores today
(probability, score, band, drivers, context) and splits each look-back's move into its inputs;
the active survival model gives the risks and curves; COPY writes the health and churn-risk
rows. Left out on purpose (what the product does beyond this): CRM fields rolled back along the
account history, quarantine, sentences of the change parts, events, timeline lines and risk
tasks.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd

from cs_platform.extensions import db
from cs_platform.models import utcnow
from scoring.changes import LOOKBACK_DAYS, PARTS, lookback_day
from scoring.features import FEATURES, MONTH_DAYS
from scoring.health_model import HealthModel
from scoring.registry import load_active
from scoring.services import model_bands
from scoring.survival import SurvivalModel

AGGREGATES_SQL = """
WITH d AS (SELECT CAST(%(day)s AS date) AS as_of),
live AS (
  SELECT d.as_of, a.id AS account_id, a.owner_id, a.segment, a.plan, a.arr::float8 AS arr,
         a.seats::float8 AS seats, coalesce(a.contract_start, a.created_at::date) AS started,
         a.renewal_date
  FROM accounts a JOIN d ON (a.churned_at IS NULL OR a.churned_at > d.as_of)
   AND coalesce(a.contract_start, a.created_at::date) <= d.as_of
),
daily AS (
  SELECT account_id, day, max(active_users) AS users, max(features_used) AS features
  FROM usage_daily WHERE day >= (SELECT as_of FROM d) - 60 AND day < (SELECT as_of FROM d)
  GROUP BY 1, 2
),
usage AS (
  SELECT d.as_of, account_id,
         sum(users) FILTER (WHERE day >= d.as_of - 30)::float8 AS users_recent,
         coalesce(sum(users) FILTER (WHERE day < d.as_of - 30), 0)::float8 AS users_before,
         sum(features) FILTER (WHERE day >= d.as_of - 30)::float8 AS features_recent,
         count(*) FILTER (WHERE day >= d.as_of - 30)::float8 AS days_recent
  FROM daily CROSS JOIN d
  GROUP BY 1, 2
),
tickets AS (
  SELECT d.as_of, t.account_id,
         count(*) FILTER (WHERE t.solved_at IS NULL OR t.solved_at >= d.as_of)::float8
           AS open_tickets,
         count(*) FILTER (WHERE (t.solved_at IS NULL OR t.solved_at >= d.as_of)
                          AND t.priority IN ('high', 'urgent'))::float8 AS high_priority_open,
         count(*) FILTER (WHERE t.created_at >= d.as_of - 90)::float8 AS tickets_90d,
         (avg(t.first_reply_minutes) FILTER (WHERE t.created_at >= d.as_of - 90
                                            AND t.solved_at < d.as_of) / 60)::float8
           AS first_reply_hours_90d,
         (avg(t.resolution_minutes) FILTER (WHERE t.created_at >= d.as_of - 90
                                           AND t.solved_at < d.as_of) / 60)::float8
           AS resolution_hours_90d,
         (count(*) FILTER (WHERE t.created_at >= d.as_of - 90 AND t.solved_at < d.as_of
                           AND t.satisfaction = 'good'))::float8
           / nullif(count(*) FILTER (WHERE t.created_at >= d.as_of - 90
                                     AND t.solved_at < d.as_of
                                     AND t.satisfaction IS NOT NULL), 0)
           AS ticket_satisfaction_90d
  FROM support_tickets t JOIN d ON t.created_at < d.as_of
   AND (t.solved_at IS NULL OR t.solved_at >= d.as_of OR t.created_at >= d.as_of - 90)
  GROUP BY 1, 2
),
answers AS (
  SELECT d.as_of, r.account_id,
         (array_agg(r.score ORDER BY r.responded_at DESC) FILTER (WHERE r.kind = 'nps'))[1]::float8
           AS nps_latest,
         (array_agg(r.score ORDER BY r.responded_at DESC) FILTER (WHERE r.kind = 'csat'))[1]::float8
           AS csat_latest,
         (array_agg(r.score ORDER BY r.responded_at DESC) FILTER (WHERE r.kind = 'ces'))[1]::float8
           AS ces_latest,
         (avg(r.score) FILTER (WHERE r.kind = 'nps' AND r.responded_at >= d.as_of - 90)
          - avg(r.score) FILTER (WHERE r.kind = 'nps' AND r.responded_at < d.as_of - 90))::float8
           AS nps_trend,
         count(*) FILTER (WHERE r.kind = 'nps' AND r.responded_at >= d.as_of - 90
                          AND r.score <= 6)::float8 AS detractors_90d,
         count(DISTINCT r.contact_id) FILTER (WHERE r.kind = 'nps'
                          AND r.responded_at >= d.as_of - 90 AND r.score <= 6)::float8
           AS detractor_contacts
  FROM survey_responses r JOIN d ON r.responded_at < d.as_of
   AND r.responded_at >= d.as_of - 180
  GROUP BY 1, 2
),
invited AS (
  SELECT d.as_of, i.account_id,
         count(*) FILTER (WHERE i.answered_at < d.as_of)::float8 / count(*)
           AS survey_response_rate
  FROM survey_invitations i JOIN d ON i.sent_at < d.as_of AND i.sent_at >= d.as_of - 365
  GROUP BY 1, 2
),
people AS (
  SELECT d.as_of, c.account_id, count(*)::float8 AS contacts
  FROM contacts c JOIN d ON c.created_at < d.as_of + 1
  GROUP BY 1, 2
)
SELECT * FROM live
LEFT JOIN usage USING (as_of, account_id)
LEFT JOIN tickets USING (as_of, account_id)
LEFT JOIN answers USING (as_of, account_id)
LEFT JOIN invited USING (as_of, account_id)
LEFT JOIN people USING (as_of, account_id)
ORDER BY as_of, account_id
"""
HEALTH_COLUMNS = ("account_id", "scored_on", "score", "band", "method", "churn_probability",
                  "model_version_id", "drivers", "context", "changes", "updated_at")  # fmt: skip
RISK_COLUMNS = ("account_id", "scored_on", "p_churn_before_renewal", "p_churn_90d",
                "expected_remaining_months", "survival_curve", "model_version_id",
                "updated_at")  # fmt: skip


def aggregates(day: dt.date) -> pd.DataFrame:
    """The one query's rows for `day`: per live account, its raw aggregates."""
    cursor = db.session.connection().connection.cursor()
    cursor.execute(AGGREGATES_SQL, {"day": day})
    columns = [column.name for column in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=columns)


def features(day: dt.date) -> pd.DataFrame:
    """The model's feature columns of `day`, indexed by account id."""
    frame = aggregates(day).set_index("account_id", drop=False)
    seats = frame["seats"].replace(0, np.nan)
    days = frame["days_recent"].replace(0, np.nan)
    started = pd.to_datetime(frame["started"])
    renewal = (pd.to_datetime(frame["renewal_date"]) - pd.Timestamp(day)).dt.days.astype(float)
    return frame.assign(
        active_users=frame["users_recent"] / days,
        active_users_change_30d=frame["users_recent"] / frame["users_before"].replace(0, np.nan)
        - 1,
        seat_utilisation=frame["users_recent"] / days / seats,
        features_used=frame["features_recent"] / days,
        tickets_per_seat_90d=frame["tickets_90d"].fillna(0) / seats,
        open_tickets=frame["open_tickets"].fillna(0),
        high_priority_open=frame["high_priority_open"].fillna(0),
        detractors_90d=frame["detractors_90d"].fillna(0),
        detractor_share=frame["detractor_contacts"].fillna(0) / frame["contacts"],
        tenure_months=(pd.Timestamp(day) - started).dt.days / MONTH_DAYS,
        days_to_renewal=renewal - np.round(np.floor(renewal.clip(lower=0) / 365.25) * 365.25),
    )


def change_parts(model: HealthModel, then: pd.DataFrame, now: pd.DataFrame) -> list[dict]:
    """Per account of `now`, the look-back's score move and its PARTS largest inputs."""
    common = now.index.intersection(then.index)
    parts = model.score_change(then.loc[common, list(FEATURES)], now.loc[common, list(FEATURES)])
    matrix = parts.to_numpy(float)
    order = np.argsort(-np.abs(matrix), axis=1)[:, :PARTS]
    names = parts.columns.to_numpy()
    moves = dict(zip(common.tolist(), matrix.sum(axis=1).round(1).tolist(), strict=True))
    tops = {
        account: [[str(names[c]), round(float(matrix[row, c]), 1)] for c in order[row]]
        for row, account in enumerate(common.tolist())
    }
    return [
        {"delta": moves[a], "parts": tops[a]} if a in moves else None for a in now.index.tolist()
    ]


def copy_rows(table: str, columns: tuple[str, ...], rows: Any) -> None:
    """COPY the rows (tuples in `columns` order) into `table`."""
    cursor = db.session.connection().connection.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def floor_night(day: dt.date) -> int:
    """The floor's night for `day` (the caller rolls it back); returns the accounts scored."""
    health_model, health_version = load_active("health") or (None, None)
    survival_model, survival_version = load_active("survival") or (None, None)
    assert isinstance(health_model, HealthModel) and isinstance(survival_model, SurvivalModel)
    looks = {str(n): lookback_day(day, n) for n in LOOKBACK_DAYS}
    now = features(day)
    scores = health_model.score(now[list(FEATURES)], **model_bands())
    changes = {n: change_parts(health_model, features(then), now) for n, then in looks.items()}
    risks = survival_model.predict(
        now[list(FEATURES)],
        now["tenure_months"],
        now["days_to_renewal"].fillna(365.0) / MONTH_DAYS,
        anchor_90d=scores["churn_probability"].to_numpy(float),
    )
    stamp, accounts = utcnow(), now["account_id"].tolist()
    change_json = [
        json.dumps({n: changes[n][row] for n in looks if changes[n][row] is not None})
        for row in range(len(now))
    ]
    copy_rows(
        "health_scores",
        HEALTH_COLUMNS,
        zip(
            accounts, [day] * len(now), scores["score"].round(1).tolist(), scores["band"].tolist(),
            ["model"] * len(now), scores["churn_probability"].tolist(),
            [health_version.id] * len(now), map(json.dumps, scores["drivers"]),
            map(json.dumps, scores["context"]), change_json, [stamp] * len(now), strict=True,
        ),
    )  # fmt: skip
    copy_rows(
        "churn_risks",
        RISK_COLUMNS,
        zip(
            accounts, [day] * len(now), risks["p_churn_before_renewal"].tolist(),
            risks["p_churn_90d"].tolist(), risks["expected_remaining_months"].tolist(),
            risks["survival_curve"].tolist(), [survival_version.id] * len(now),
            [stamp] * len(now), strict=True,
        ),
    )  # fmt: skip
    return len(now)

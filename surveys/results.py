"""Survey results for the pages: one query into a DataFrame, then the pure metrics."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import aliased

from cs_platform.extensions import db
from cs_platform.models import Account, Contact, User
from surveys.metrics import (
    Comparison,
    Summary,
    breakdown,
    compare_summaries,
    summarise_counts,
    trend,
)
from surveys.models import Survey, SurveyResponse

BREAKDOWNS = {"segment": "Segment", "plan": "Plan", "role": "Contact role", "csm": "CSM"}
COLUMNS = ["score", "responded_at", "segment", "plan", "role", "csm"]


@dataclass(frozen=True)
class Results:
    survey: Survey
    summary: Summary
    monthly: pd.DataFrame
    last_change: Comparison | None
    breakdowns: dict[str, pd.DataFrame]
    comments: list[SurveyResponse]


def responses_frame(survey_id: int) -> pd.DataFrame:
    """Every response of a survey with the account's segment and plan, role and CSM."""
    owner = aliased(User)
    query = (
        select(
            SurveyResponse.score,
            SurveyResponse.responded_at,
            Account.segment,
            Account.plan,
            Contact.role,
            owner.name.label("csm"),
        )
        .join(Account, Account.id == SurveyResponse.account_id)
        .outerjoin(Contact, Contact.id == SurveyResponse.contact_id)
        .outerjoin(owner, owner.id == Account.owner_id)
        .where(SurveyResponse.survey_id == survey_id)
    )
    frame = pd.DataFrame(db.session.execute(query).all(), columns=COLUMNS)
    return frame.fillna({"role": "unknown", "csm": "unassigned"})


def survey_results(survey: Survey, comment_limit: int = 50) -> Results:
    frame = responses_frame(survey.id)
    overall = breakdown(frame.assign(all="all"), survey.kind, "all")
    summary = _summary(survey.kind, overall.iloc[0] if len(overall) else None)
    monthly = trend(frame, survey.kind, "month") if len(frame) else overall.iloc[0:0]
    last_change = None
    if len(monthly) >= 2:
        before, after = (_summary(survey.kind, monthly.iloc[i]) for i in (-2, -1))
        last_change = compare_summaries(before, after)
    comments = db.session.scalars(
        select(SurveyResponse)
        .where(SurveyResponse.survey_id == survey.id, SurveyResponse.comment.is_not(None))
        .order_by(SurveyResponse.responded_at.desc())
        .limit(comment_limit)
    ).all()
    tables = {label: breakdown(frame, survey.kind, key) for key, label in BREAKDOWNS.items()}
    return Results(survey, summary, monthly, last_change, tables, list(comments))


def _summary(kind: str, row) -> Summary:
    if row is None:
        return summarise_counts(kind, 0, 0, 0)
    return summarise_counts(
        kind,
        int(row["detractors"]),
        int(row["passives"]),
        int(row["promoters"]),
        float(row["mean_score"] * row["n"]),
    )

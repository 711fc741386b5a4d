"""Survey results for the pages: one query into a DataFrame, then the pure metrics."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import aliased

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.models import Account, Contact, User
from surveys.models import Survey, SurveyResponse
from surveys.survey_metrics import (
    PeriodChange,
    Summary,
    breakdown,
    last_complete_change,
    summarise_counts,
    summary_of_row,
    trend,
)

BREAKDOWNS = {"segment": "Segment", "plan": "Plan", "role": "Contact role", "csm": "CSM"}
COLUMNS = ["score", "responded_at", "segment", "plan", "role", "csm"]


@dataclass(frozen=True)
class Results:
    survey: Survey
    summary: Summary
    monthly: pd.DataFrame  # has a `complete` column: False for the month still under way
    last_change: PeriodChange | None  # the last two complete months
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
    summary = (
        summary_of_row(survey.kind, overall.iloc[0])
        if len(overall)
        else summarise_counts(survey.kind, 0, 0, 0)
    )
    monthly = trend(frame, survey.kind, "month", as_of=clock.today())
    comments = db.session.scalars(
        select(SurveyResponse)
        .where(SurveyResponse.survey_id == survey.id, SurveyResponse.comment.is_not(None))
        .order_by(SurveyResponse.responded_at.desc())
        .limit(comment_limit)
    ).all()
    tables = {label: breakdown(frame, survey.kind, key) for key, label in BREAKDOWNS.items()}
    return Results(
        survey,
        summary,
        monthly,
        last_complete_change(monthly, survey.kind),
        tables,
        list(comments),
    )

"""The survey program a real customer-success team runs, installed with the demo so that a
newcomer sees working campaigns on the surveys page rather than an empty one.

- Quarterly NPS to every contact, on the first day of each quarter, spread over two weeks of
  sending days so replies (and the CSMs' follow-ups) do not all land on one morning.
- CSAT an hour after a support ticket is solved, to whoever filed it, in support hours. Only
  tickets solved after the campaign exists count, so installing it sends nothing by itself.

Campaigns are found by name: running it again adds only the missing ones. The scheduler's
campaign-sync job (surveys.jobs) schedules them within a minute.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cs_platform.extensions import db
from surveys.models import Campaign, Survey
from surveys.planning import validate_campaign

# (survey kind, campaign columns); audience {} is every contact the planner may survey.
SURVEY_NAMES = {"nps": "Quarterly NPS", "csat": "Support CSAT", "ces": "Customer effort (CES)"}
PRODUCT_NAME = "Acme Cloud"
SURVEY_PROGRAM: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "nps",
        {
            "name": "Quarterly NPS",
            "trigger": "recurring",
            "cron": "0 6 1 1,4,7,10 *",  # 06:00 UTC on 1 January, April, July and October
            "period_days": 90,  # quarters are 90-92 days: each run is a period of its own
            "spread_days": 10,
            "window_start_hour": 9,
            "window_end_hour": 11,
            "reminders": 1,
            "reminder_after_days": 5,
            "expiry_days": 30,
        },
    ),
    (
        "csat",
        {
            "name": "CSAT after a solved ticket",
            "trigger": "event",
            "event": "ticket_solved",
            "delay_hours": 1,
            "window_start_hour": 8,
            "window_end_hour": 18,
            "throttle_days": 30,  # one CSAT a month per contact, however many tickets
            "reminders": 0,
            "expiry_days": 7,
        },
    ),
)


def demo_survey_ids() -> dict[str, int]:
    """One survey per kind: the oldest existing one, or a new one."""
    ids = {}
    for kind, name in SURVEY_NAMES.items():
        survey = db.session.scalar(select(Survey).where(Survey.kind == kind).order_by(Survey.id))
        if survey is None:
            survey = Survey(name=name, kind=kind, product_name=PRODUCT_NAME)
            db.session.add(survey)
            db.session.flush()
        ids[kind] = survey.id
    return ids


def install_survey_program() -> int:
    """Add the program's campaigns that are missing by name; returns how many were added.

    Uses the demo's survey of each kind and checks each campaign as the admin page does, so
    it needs the book's contacts loaded. Flushes; the caller commits.
    """
    survey_ids = demo_survey_ids()
    existing = set(db.session.scalars(select(Campaign.name)))
    added = [
        Campaign(survey_id=survey_ids[kind], status="active", audience={}, **columns)
        for kind, columns in SURVEY_PROGRAM
        if columns["name"] not in existing
    ]
    for campaign in added:
        validate_campaign(campaign)
    db.session.add_all(added)
    db.session.flush()
    return len(added)

"""The demo's survey program: the campaigns a real team runs, installed once."""

from __future__ import annotations

from sqlalchemy import func, select

from cs_platform.demo.service import seed_demo
from cs_platform.demo.survey_program import install_survey_program
from cs_platform.extensions import db
from cs_platform.outbox import OutboxMessage
from surveys.jobs import campaign_trigger
from surveys.models import Campaign
from surveys.planning import plan_campaign


def campaigns() -> dict[str, Campaign]:
    return {campaign.survey.kind: campaign for campaign in db.session.scalars(select(Campaign))}


def test_the_demo_gets_a_quarterly_nps_to_everyone_and_a_csat_after_each_solved_ticket(app):
    seed_demo(accounts=30, seed=3, force=False)  # installs the program with the book
    assert len(campaigns()) == 2
    nps, csat = campaigns()["nps"], campaigns()["csat"]
    assert (nps.trigger, nps.cron, nps.audience, nps.status) == (
        "recurring", "0 6 1 1,4,7,10 *", {}, "active",
    )  # fmt: skip
    assert campaign_trigger(nps) is not None  # the scheduler gives it a job of its own
    assert (csat.trigger, csat.event, csat.audience) == ("event", "ticket_solved", {})


def test_installing_the_program_again_adds_nothing(app):
    seed_demo(accounts=30, seed=3, force=False)
    install_survey_program()
    db.session.commit()
    assert install_survey_program() == 0
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 2


def test_installing_the_program_sends_nothing_for_tickets_solved_before_it(app):
    seed_demo(accounts=30, seed=3, force=False)
    install_survey_program()
    db.session.commit()
    assert plan_campaign(campaigns()["csat"]).invited == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0

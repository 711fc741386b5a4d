"""health_score.changed announces a band change only once the score is HEALTH_BAND_MARGIN_POINTS
past the edge it crossed, relative to the band last announced, and carries the day's drivers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from cs_platform.extensions import db
from scoring.events import BandEdges, ScorePoint, announced_band, health_score_changes
from tests.factories import AccountFactory, HealthScoreFactory

EDGES = BandEdges(green_at=50, red_below=33)  # the learned model's default bands
FIRST_NIGHT = dt.date(2026, 6, 1)


def model_band(score: float) -> str:
    return "green" if score >= 50 else "red" if score < 33 else "yellow"


@pytest.mark.parametrize(
    ("score", "last", "announced"),
    [
        (50.1, "yellow", "yellow"),  # up across green's edge, within the margin
        (52.0, "yellow", "green"),  # up by the margin
        (48.5, "green", "green"),  # down across green's edge, within the margin
        (47.9, "green", "yellow"),  # down by more than the margin
        (34.0, "red", "red"),  # up across red's edge, within the margin
        (35.5, "red", "yellow"),  # up by more than the margin
        (31.5, "yellow", "yellow"),  # down across red's edge, within the margin
        (30.0, "yellow", "red"),  # down by more than the margin
        (20.0, "green", "red"),  # down two bands at once
        (70.0, "red", "green"),  # up two bands at once
        (45.0, "yellow", "yellow"),  # no edge crossed
        (45.0, None, "yellow"),  # nothing announced yet: the score's own band
    ],
)
def test_a_band_change_counts_only_once_the_score_is_the_margin_past_the_edge(
    score, last, announced
):
    assert announced_band(ScorePoint(score, model_band(score)), last, EDGES, margin=2) == announced


def nights(account, *scores: float) -> list[dict]:
    """Score the account on consecutive nights; the changes each night found, in order."""
    found = []
    for night, score in enumerate(scores):
        day = FIRST_NIGHT + dt.timedelta(days=night)
        HealthScoreFactory(account=account, scored_on=day, score=score, band=model_band(score))
        found.extend(health_score_changes(day))
        db.session.commit()
    return found


def test_a_score_wiggling_across_an_edge_announces_nothing_night_after_night(app):
    assert nights(AccountFactory(), 49.9, 50.1, 49.8, 50.3, 49.7) == []


def test_a_score_drifting_up_is_announced_once_the_margin_past_the_announced_band(app):
    [change] = nights(AccountFactory(), 49.9, 50.5, 51.0, 51.5, 52.2, 53.0)
    assert (change["scored_on"], change["score"]) == ("2026-06-05", 52.2)
    assert (change["previous_band"], change["band"]) == ("yellow", "green")


def test_a_score_falling_through_an_edge_is_announced_once_then_wiggles_quietly(app):
    changes = nights(AccountFactory(), 52.0, 49.0, 47.5, 48.9, 50.5, 49.0)
    assert [(c["previous_band"], c["band"], c["score"]) for c in changes] == [
        ("green", "yellow", 47.5)
    ]


def test_a_big_move_within_the_margin_is_still_an_event_without_a_band_change(app):
    [change] = nights(AccountFactory(), 39.0, 50.5)  # 11.5 points, more than the 10 allowed
    assert (change["previous_band"], change["band"]) == ("yellow", "yellow")


def test_a_margin_of_zero_announces_every_crossing(app):
    app.config["HEALTH_BAND_MARGIN_POINTS"] = 0
    try:
        changes = nights(AccountFactory(), 49.9, 50.1, 49.8)
    finally:
        del app.config["HEALTH_BAND_MARGIN_POINTS"]
    assert [c["band"] for c in changes] == ["green", "yellow"]


def test_a_rerun_of_a_night_finds_the_same_change(app):
    account = AccountFactory()
    nights(account, 49.9, 53.0)
    second_night = FIRST_NIGHT + dt.timedelta(days=1)
    [again] = health_score_changes(second_night)
    assert (again["account_id"], again["previous_band"], again["band"]) == (
        account.id,
        "yellow",
        "green",
    )


def test_the_change_carries_the_drivers_the_health_endpoint_shows(app):
    account = AccountFactory()
    nights(account, 75.0)
    drivers = [
        {"feature": "nps_latest", "value": 3, "contribution": 0.9, "sentence": "NPS fell to 3"}
    ]
    day = FIRST_NIGHT + dt.timedelta(days=1)
    HealthScoreFactory(account=account, scored_on=day, score=40.0, band="yellow", drivers=drivers)
    [change] = health_score_changes(day)
    assert change["drivers"] == drivers


def test_an_account_not_scored_the_day_before_is_compared_with_its_own_latest_score(app):
    skipped, scored, newcomer = AccountFactory(), AccountFactory(), AccountFactory()
    days = [FIRST_NIGHT + dt.timedelta(days=n) for n in range(3)]
    HealthScoreFactory(account=skipped, scored_on=days[0], score=80.0, band="green")
    HealthScoreFactory(account=scored, scored_on=days[1], score=45.0, band="yellow")
    for account, score in ((skipped, 20.0), (scored, 46.0), (newcomer, 20.0)):
        HealthScoreFactory(account=account, scored_on=days[2], score=score, band=model_band(score))
    [change] = health_score_changes(days[2])
    assert (change["account_id"], change["previous_score"], change["previous_band"]) == (
        skipped.id,
        80.0,
        "green",
    )


@pytest.fixture
def statements(app) -> Iterator[list[str]]:
    """The SQL statements the database receives while the test runs."""
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    yield seen
    event.remove(db.engine, "before_cursor_execute", count)


def statements_for(accounts: int, statements: list[str]) -> int:
    """Statements of one night's change detection over `accounts` accounts that all changed."""
    day = FIRST_NIGHT + dt.timedelta(days=1)
    for _ in range(accounts):
        account = AccountFactory()
        HealthScoreFactory(account=account, scored_on=FIRST_NIGHT, score=80.0, band="green")
        HealthScoreFactory(account=account, scored_on=day, score=20.0, band="red")
    statements.clear()
    changes = health_score_changes(day)
    db.session.rollback()
    assert len(changes) >= accounts
    return len(statements)


def test_the_whole_night_is_found_set_wise_not_a_query_per_account(statements):
    assert statements_for(3, statements) == statements_for(30, statements)

"""Fixtures of the automation tests: a book scored on two days, and rules saved as an admin
would."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from cs_platform import clock
from cs_platform.automation.models import Rule
from cs_platform.automation.services import save_rule
from cs_platform.extensions import db
from cs_platform.models import Account, User
from tests.factories import AccountFactory, HealthScoreFactory


@pytest.fixture
def today() -> dt.date:
    return clock.today()


@pytest.fixture
def admin(make_user) -> User:
    return make_user("admin", name="Ada Admin")


@pytest.fixture
def scored(today) -> Callable[..., Account]:
    """An account scored `before` yesterday and `now` today (None: not scored that day)."""

    def make(now: float | None, before: float | None = None, **values) -> Account:
        account = AccountFactory(**values)
        for day, score in ((today - dt.timedelta(days=1), before), (today, now)):
            if score is not None:
                HealthScoreFactory(account=account, scored_on=day, score=score)
        return account

    return make


@pytest.fixture
def rule(admin) -> Callable[..., Rule]:
    """Save a rule from its definition (confirmed, so a small book never trips the limit)."""

    def save(definition: dict, name: str = "Red accounts get a call") -> Rule:
        saved = save_rule(None, name, definition, admin, confirmed=True)
        assert isinstance(saved, Rule)
        db.session.commit()
        return saved

    return save


@pytest.fixture(autouse=True)
def no_share_limit(app, monkeypatch) -> None:
    """Rules may act on the whole (small) book, unless a test sets the limit itself."""
    monkeypatch.setitem(app.config, "AUTOMATION_CONFIRM_PERCENT", 100)


@pytest.fixture
def owner_with_lead(make_user) -> User:
    """A CSM in the team of Lee Lead (their `team_lead_id`)."""
    lead = make_user("team_lead", name="Lee Lead")
    owner = make_user("csm", name="Olivia Owner")
    owner.team_lead_id = lead.id
    db.session.commit()
    return owner

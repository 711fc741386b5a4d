"""The task list at scale: paged, filtered and sorted by the query string, in set-wise SQL."""

from __future__ import annotations

import datetime as dt
import html
import re
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.models import Account, Task, User
from cs_platform.tasks.services import steps_by_task
from tests.factories import AccountFactory, BandOverrideFactory, HealthScoreFactory, TaskFactory

TODAY = clock.today()


@pytest.fixture(autouse=True)
def today_when_the_test_starts(monkeypatch) -> None:
    """TODAY read as each test starts, not at import: a suite running past midnight would
    otherwise hold tasks due on an earlier day."""
    monkeypatch.setattr(sys.modules[__name__], "TODAY", clock.today())


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def listed(page: str) -> list[str]:
    """Titles of the tasks on a rendered list page, in order (unescaped)."""
    return [html.unescape(t) for t in re.findall(r'<strong class="task-title">([^<]*)<', page)]


@pytest.fixture
def account(csm) -> Account:
    return AccountFactory(owner=csm, name="Initech")


def add_tasks(account: Account, owner: User | None, count: int, **values) -> None:
    """`count` open tasks titled "Task 000".. due one day apart, in one commit."""
    db.session.add_all(
        Task(
            account_id=account.id,
            kind=values.get("kind", "manual"),
            severity="medium",
            owner_id=owner.id if owner else None,
            title=f"Task {n:03d}",
            reason=f"r{n}",
            due_date=days(n),
        )
        for n in range(count)
    )
    db.session.commit()


def test_the_list_shows_fifty_tasks_a_page_with_the_total_and_pages(owner_client, account, csm):
    add_tasks(account, csm, 120)
    first = owner_client.get("/tasks").text
    assert "120 open or snoozed tasks" in first
    assert listed(first) == [f"Task {n:03d}" for n in range(50)]
    assert "Page 1 of 3" in first and "page=2" in first
    last = owner_client.get("/tasks?page=3").text
    assert listed(last) == [f"Task {n:03d}" for n in range(100, 120)]
    assert "Page 3 of 3" in last


def test_paging_links_keep_the_filters(owner_client, account, csm):
    add_tasks(account, csm, 60, kind="renewal")
    page = owner_client.get("/tasks?kind=renewal&sort=priority").text
    assert "/tasks?kind=renewal&amp;sort=priority&amp;page=2" in page


def test_unknown_filter_values_are_ignored(owner_client, account, csm):
    add_tasks(account, csm, 3)
    plain = listed(owner_client.get("/tasks").text)
    odd = "/tasks?owner=abc&kind=bogus&due=later&band=purple&sort=evil&page=-2&scope=x"
    assert listed(owner_client.get(odd).text) == plain == ["Task 000", "Task 001", "Task 002"]


def test_the_owner_filter_picks_me_unassigned_or_a_colleague(owner_client, account, csm, make_user):
    colleague = make_user("csm", name="Colleague")
    TaskFactory(account=account, owner=csm, title="Mine", reason="a")
    TaskFactory(account=account, owner=None, title="Nobody's", reason="b")
    TaskFactory(account=account, owner=colleague, title="Colleague's", reason="c")
    assert listed(owner_client.get("/tasks?scope=team&owner=me").text) == ["Mine"]
    assert listed(owner_client.get("/tasks?scope=team&owner=none").text) == ["Nobody's"]
    on_team = owner_client.get(f"/tasks?scope=team&owner={colleague.id}").text
    assert listed(on_team) == ["Colleague's"]


def test_my_tasks_leave_out_a_colleagues_task_the_team_view_shows(owner_client, account, make_user):
    TaskFactory(account=AccountFactory(), owner=make_user("csm"), title="Theirs", reason="a")
    assert listed(owner_client.get("/tasks").text) == []
    assert listed(owner_client.get("/tasks?scope=team").text) == ["Theirs"]


def test_the_kind_filter_shows_one_kind(owner_client, account, csm):
    TaskFactory(account=account, owner=csm, kind="renewal", title="Renewal", reason="a")
    TaskFactory(account=account, owner=csm, kind="detractor", title="Detractor", reason="b")
    assert listed(owner_client.get("/tasks?kind=renewal").text) == ["Renewal"]


def test_the_overdue_filter_shows_open_tasks_past_due_but_not_snoozed_ones(
    owner_client, account, csm
):
    TaskFactory(account=account, owner=csm, title="Late", reason="a", due_date=days(-3))
    TaskFactory(account=account, owner=csm, title="Soon", reason="b", due_date=days(3))
    TaskFactory(
        account=account,
        owner=csm,
        title="Snoozed",
        reason="c",
        due_date=days(-3),
        status="snoozed",
        snoozed_until=days(10),
    )
    assert listed(owner_client.get("/tasks?due=overdue").text) == ["Late"]


def test_the_this_week_filter_shows_tasks_due_by_sunday(owner_client, account, csm):
    sunday = TODAY + dt.timedelta(days=6 - TODAY.weekday())
    TaskFactory(account=account, owner=csm, title="Today", reason="a", due_date=TODAY)
    TaskFactory(account=account, owner=csm, title="Sunday", reason="b", due_date=sunday)
    TaskFactory(
        account=account, owner=csm, title="Monday", reason="c", due_date=days(7 - TODAY.weekday())
    )
    TaskFactory(account=account, owner=csm, title="Late", reason="d", due_date=days(-1))
    assert listed(owner_client.get("/tasks?due=week").text) == ["Today", "Sunday"]


def test_the_band_filter_uses_the_latest_score_and_an_override_in_force(owner_client, csm):
    red, overridden, green = (AccountFactory(owner=csm) for _ in range(3))
    HealthScoreFactory(account=red, scored_on=days(-1), score=80)  # an older day's band
    HealthScoreFactory(account=red, scored_on=TODAY, score=30)
    HealthScoreFactory(account=overridden, scored_on=TODAY, score=80)
    BandOverrideFactory(account=overridden, band="red")
    HealthScoreFactory(account=green, scored_on=TODAY, score=80)
    for account, title in ((red, "Red"), (overridden, "Overridden"), (green, "Green")):
        TaskFactory(account=account, owner=csm, title=title, reason="a")
    assert sorted(listed(owner_client.get("/tasks?band=red").text)) == ["Overridden", "Red"]
    assert listed(owner_client.get("/tasks?band=green").text) == ["Green"]


def test_sorting_by_due_date_puts_the_soonest_first_and_undated_last(owner_client, account, csm):
    TaskFactory(account=account, owner=csm, title="Undated", reason="a", due_date=None)
    TaskFactory(account=account, owner=csm, title="Later", reason="b", due_date=days(9))
    TaskFactory(account=account, owner=csm, title="Sooner", reason="c", due_date=days(1))
    assert listed(owner_client.get("/tasks?sort=due").text) == ["Sooner", "Later", "Undated"]


def test_sorting_by_priority_puts_high_first_then_the_soonest(owner_client, account, csm):
    TaskFactory(account=account, owner=csm, title="Low", reason="a", severity="low")
    TaskFactory(account=account, owner=csm, title="High later", reason="b", due_date=days(9))
    TaskFactory(account=account, owner=csm, title="High sooner", reason="c", due_date=days(1))
    TaskFactory(account=account, owner=csm, title="Medium", reason="d", severity="medium")
    page = owner_client.get("/tasks?sort=priority").text
    assert listed(page) == ["High sooner", "High later", "Medium", "Low"]


def test_a_snoozed_task_shows_when_it_wakes_and_sorts_by_that_day(owner_client, account, csm):
    wakes = days(12)
    TaskFactory(
        account=account,
        owner=csm,
        title="Snoozed",
        reason="a",
        due_date=days(-20),
        status="snoozed",
        snoozed_until=wakes,
    )
    TaskFactory(account=account, owner=csm, title="Due soon", reason="b", due_date=days(2))
    page = owner_client.get("/tasks").text
    assert f'snoozed until <time datetime="{wakes}">{wakes.day} {wakes:%b}' in page
    assert "overdue since" not in page
    assert listed(page) == ["Due soon", "Snoozed"]


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The SQL statements run while the test runs."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def test_the_list_runs_as_many_statements_for_twenty_two_tasks_as_for_two(
    owner_client, csm, make_user, statements
):
    def count_for(tasks: int) -> int:
        for n in range(tasks):  # each on its own account and owner
            TaskFactory(account=AccountFactory(owner=csm), owner=make_user("csm"), reason=f"{n}")
        statements.clear()
        owner_client.get("/tasks?scope=team&sort=priority")
        return len(statements)

    assert count_for(2) == count_for(20)


def test_steps_of_no_tasks_are_found_without_asking_the_database(app, statements):
    assert steps_by_task([]) == {}
    assert statements == []

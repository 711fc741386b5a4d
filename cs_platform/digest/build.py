"""What goes in each user's daily digest, for any number of users at once (one statement per
section, whatever their count).

A user's book: the live accounts they own and, for a team lead, those of their team. Since the
last digest (the 24 hours before `now`):

- band changes: accounts whose band in force on the latest scoring day differs from the scoring
  day before (when that scoring day is today or yesterday: a stale one is no news);
- new risk flags: churn-risk and health-drop tasks opened, still open;
- detractors: detractor answers (any survey kind), with their comment;
- renewals in the next 30, 60 and 90 days (all of them, grouped);
- overdue tasks: open tasks on the book past their due date.

"Nothing changed", and no email, when there is no band change, no new flag, no detractor, no
renewal entering its 30-, 60- or 90-day window today and no task that became overdue today:
renewals and overdue tasks already known the day before do not make a digest on their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, Select, case, literal, select, union_all

from cs_platform.alerts.notify import absolute_url
from cs_platform.automation.matching import Moment, band_days_query, live_accounts
from cs_platform.bulk_writes import in_values
from cs_platform.extensions import db
from cs_platform.models import Account, Task, User
from surveys.models import SurveyResponse, detractor_answer

SINCE = dt.timedelta(hours=24)
RENEWAL_WINDOWS = (30, 60, 90)
FLAG_KINDS = ("churn_risk", "health_drop")
SECTION_TITLES = {
    "bands": "Band changes",
    "flags": "New risk flags",
    "detractors": "Detractors",
    "renewals": "Renewals in the next 90 days",
    "overdue": "Overdue tasks",
}


@dataclass(frozen=True)
class Line:
    """One line of a digest: an account, what to say about it, and its page."""

    account_id: int
    account: str
    text: str
    url: str
    group: str = ""  # the renewal window ("within 30 days") or ""


@dataclass
class Digest:
    """One user's digest: its lines by section, and whether anything changed."""

    user_id: int
    sections: dict[str, list[Line]] = field(
        default_factory=lambda: {name: [] for name in SECTION_TITLES}
    )
    changed: bool = False

    @property
    def size(self) -> int:
        return sum(len(lines) for lines in self.sections.values())

    def subject(self) -> str:
        """ "Your book today: 2 band changes, 1 new risk flag, 3 renewals within 30 days"."""
        soon = [line for line in self.sections["renewals"] if line.group == "within 30 days"]
        counts = [
            (len(self.sections["bands"]), "band change", "band changes"),
            (len(self.sections["flags"]), "new risk flag", "new risk flags"),
            (len(self.sections["detractors"]), "detractor", "detractors"),
            (len(soon), "renewal within 30 days", "renewals within 30 days"),
            (len(self.sections["overdue"]), "overdue task", "overdue tasks"),
        ]
        said = [f"{n} {one if n == 1 else many}" for n, one, many in counts if n]
        return "Your book today: " + (", ".join(said) or "nothing new")


@dataclass(frozen=True)
class Section:
    """How one section is read (`query`), said (`text`) and whether a row is a change."""

    name: str
    query: Select
    text: Callable[[Row], str]
    changed: Callable[[Row], bool] = lambda row: True
    group: Callable[[Row], str] = lambda row: ""


def book(user_ids: Sequence[int]):
    """(user_id, account_id) of every live account in each user's book."""
    owners = select(User.id.label("owner_id"), User.team_lead_id.label("lead_id")).subquery()
    own = select(Account.owner_id.label("user_id"), Account.id.label("account_id"))
    led = select(owners.c.lead_id, Account.id).join(owners, owners.c.owner_id == Account.owner_id)
    rows = union_all(
        own.where(live_accounts()), led.where(owners.c.lead_id.is_not(None), live_accounts())
    ).subquery("book_rows")
    return (
        select(rows.c.user_id, rows.c.account_id)
        .where(in_values(rows.c.user_id, user_ids))
        .subquery("book")
    )


def build_digests(user_ids: Sequence[int], now: dt.datetime, today: dt.date) -> dict[int, Digest]:
    """Every user's digest (a user with nothing in their book gets an empty one)."""
    digests = {user_id: Digest(user_id) for user_id in user_ids}
    if not user_ids:
        return digests
    for section in _sections(book(user_ids), now, today):
        for row in db.session.execute(section.query):
            digest = digests[row.user_id]
            url = absolute_url("accounts.detail", account_id=row.account_id)
            line = Line(row.account_id, row.account, section.text(row), url, section.group(row))
            digest.sections[section.name].append(line)
            digest.changed = digest.changed or section.changed(row)
    return digests


def _joined(mine: Any, *columns: Any) -> Select:
    """The book's accounts (user, id, name) with `columns`."""
    return select(
        mine.c.user_id, Account.id.label("account_id"), Account.name.label("account"), *columns
    ).join(mine, mine.c.account_id == Account.id)


def _sections(mine: Any, now: dt.datetime, today: dt.date) -> list[Section]:
    since = now - SINCE
    moment = Moment.read(now)
    # A band change is news on the day after its scoring run only (not while scoring is stale).
    fresh = moment.health_day is not None and moment.health_day >= today - dt.timedelta(days=1)
    days = band_days_query(moment).subquery("band_days")
    flags = Task.kind.in_(FLAG_KINDS), Task.status != "done", Task.created_at >= since
    renewing = Account.renewal_date.between(today, today + dt.timedelta(days=RENEWAL_WINDOWS[-1]))
    entering = [today + dt.timedelta(days=window) for window in RENEWAL_WINDOWS]
    window = case(
        *(
            (Account.renewal_date <= today + dt.timedelta(days=n), f"within {n} days")
            for n in RENEWAL_WINDOWS
        )
    )
    yesterday = today - dt.timedelta(days=1)
    return [
        Section(
            "bands",
            _joined(mine, days.c.prior_band, days.c.band, days.c.score)
            .join(days, days.c.account_id == Account.id)
            .where(days.c.prior_band.is_not(None), days.c.band != days.c.prior_band, literal(fresh))
            .order_by(mine.c.user_id, Account.name),
            lambda row: f"{row.prior_band} → {row.band} (score {row.score:.0f})",
        ),
        Section(
            "flags",
            _joined(mine, Task.title)
            .join(Task, Task.account_id == Account.id)
            .where(*flags)
            .order_by(mine.c.user_id, Account.name, Task.id),
            lambda row: row.title,
        ),
        Section(
            "detractors",
            _joined(mine, SurveyResponse.kind, SurveyResponse.score, SurveyResponse.comment)
            .join(SurveyResponse, SurveyResponse.account_id == Account.id)
            .where(SurveyResponse.responded_at >= since, detractor_answer())
            .order_by(mine.c.user_id, Account.name, SurveyResponse.id),
            lambda row: (
                f"{row.kind.upper()} {row.score}"
                + (f": “{row.comment}”" if row.comment else " (no comment)")
            ),
        ),
        Section(
            "renewals",
            _joined(mine, Account.renewal_date, window.label("window"))
            .where(renewing)
            .order_by(mine.c.user_id, Account.renewal_date, Account.name),
            lambda row: (
                f"renews on {row.renewal_date:%d %b %Y} ({(row.renewal_date - today).days} days)"
            ),
            changed=lambda row: row.renewal_date in entering,
            group=lambda row: row.window,
        ),
        Section(
            "overdue",
            _joined(mine, Task.title, Task.due_date)
            .join(Task, Task.account_id == Account.id)
            .where(Task.status == "open", Task.due_date < today)
            .order_by(mine.c.user_id, Task.due_date, Account.name),
            lambda row: f"{row.title} (due {row.due_date:%d %b})",
            changed=lambda row: row.due_date == yesterday,
        ),
    ]

"""Seeding the demo book: refuse to overwrite real customers, replace an earlier demo, load anew.

`seed_demo` is a whole-database operation, so it owns its transaction: it clears the old book,
loads the new one and commits once, or rolls everything back.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Table, delete, func, select, text, update

from cs_platform.auth.services import create_user
from cs_platform.automation.engine import run_rules
from cs_platform.automation.services import install_example_rules
from cs_platform.demo.generator import generate_book, slug
from cs_platform.demo.loader import load_book
from cs_platform.demo.models import DemoRun
from cs_platform.demo.survey_program import demo_survey_ids, install_survey_program
from cs_platform.demo.traits import install_demo_traits
from cs_platform.demo.wordlists import CSM_NAMES
from cs_platform.extensions import db, rowcount
from cs_platform.models import Account, User
from cs_platform.progress import Progress
from cs_platform.tasks.models import Task
from cs_platform.tasks.services import install_default_playbooks
from scoring.runs import ScoringSummary, score_accounts, train_and_commit
from scoring.training import NotEnoughHistoryError

CSM_EMAIL_DOMAIN = "cs-platform.localhost"


class DemoRefused(Exception):  # noqa: N818 - the name the CLI imports
    """The database holds customers that are not demo data, and replacing them was not asked for."""


@dataclass(frozen=True)
class DemoSummary:
    seed: int
    accounts: int
    churned: int
    rows: dict[str, int]  # rows written per table
    seconds: float
    perfect_auc: float  # 90-day AUC of a model that knows the true hazard

    def describe(self) -> str:
        rows = self.rows
        return (
            f"demo book loaded (seed {self.seed}): {self.accounts:,} accounts "
            f"({self.churned:,} churned), {rows['contacts']:,} contacts, "
            f"{rows['usage_daily']:,} days of usage, {rows['support_tickets']:,} tickets, "
            f"{rows['survey_responses']:,} survey answers in {self.seconds:.1f} s; "
            f"a perfect model of the hidden hazard reaches a 90-day AUC of {self.perfect_auc:.3f}"
        )


def database_is_empty() -> bool:
    """True when there is no account at all."""
    return db.session.scalar(select(Account.id).limit(1)) is None


def demo_data_present() -> bool:
    """True when a demo book (or part of one) is loaded."""
    demo_account = db.session.scalar(select(Account.id).where(Account.is_demo).limit(1))
    return demo_account is not None or db.session.scalar(select(DemoRun.id).limit(1)) is not None


def seed_demo(accounts: int, seed: int, force: bool, as_of: dt.date | None = None) -> DemoSummary:
    """Replace the book of business with a generated one of `accounts` accounts.

    Refuses while non-demo accounts exist, unless `force`, which replaces them too.
    """
    started = time.perf_counter()
    real = db.session.scalar(select(func.count()).where(~Account.is_demo))
    if real and not force:
        raise DemoRefused(
            f"the database holds {real:,} accounts that are not demo data; "
            "use --force to replace them with the demo"
        )
    try:
        clear_book(db.session.connection())
        book = generate_book(
            accounts, seed, as_of, owner_ids=demo_csm_ids(), survey_ids=demo_survey_ids()
        )
        rows = load_book(db.session.connection(), book)
        rows["account_traits"] = install_demo_traits(db.session.connection(), book.accounts)
        install_survey_program()
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    churned = int(book.accounts["churned_at"].notna().sum())
    seconds = time.perf_counter() - started
    return DemoSummary(seed, accounts, churned, rows, seconds, book.perfect_model["auc_90d"])


@dataclass(frozen=True)
class DemoScoring:
    playbooks: int
    training: str  # what training said: the versions activated, or why it could not train
    days_scored: int
    last: ScoringSummary | None

    def describe(self) -> str:
        last = f"; latest run: {self.last.describe()}" if self.last else ""
        return (
            f"{self.playbooks} playbooks installed; models: {self.training}; "
            f"scored {self.days_scored} days of history{last}"
        )


def demo_days(as_of: dt.date, history_days: int = 91, every_days: int = 7) -> list[dt.date]:
    """The days the demo's score history has, oldest first: every `every_days` up to `as_of`."""
    return [as_of - dt.timedelta(days=back) for back in range(history_days, -1, -every_days)]


def score_demo(as_of: dt.date, progress: Progress) -> DemoScoring:
    """Bring a fresh demo to life as a live install would be after months of nightly runs:
    default playbooks and example automation rules, trained models (or the scorecard when
    history is too short) and score history on the `demo_days`, so the risk list, sparklines,
    account charts and the rules' run logs have something to show. Commits after each step;
    one `progress` step for the training, one per day, one for the rules."""
    days = demo_days(as_of)
    with progress.step("installing playbooks and example rules, training the models") as step:
        installed = install_default_playbooks()
        install_example_rules()
        db.session.commit()
        try:
            training = train_and_commit(as_of=as_of).describe().replace("\n", "; ")
            step.detail = "models trained"
        except NotEnoughHistoryError as error:
            training = str(error)
            step.detail = "too little churn to train, the scorecard scores"
    last = None
    for day in days:
        with progress.step(f"scoring {day}") as step:
            last = score_accounts(day, raise_flags=day == as_of)  # tasks from today's run only
            db.session.commit()
            step.detail = f"{last.accounts:,} accounts"
    with progress.step("running the example automation rules") as step:
        acted = sum(run_rules().fired.values())
        step.detail = f"acted on {acted:,} accounts"
    return DemoScoring(installed, training, len(days), last)


def hand_accounts_to(user: User) -> int:
    """Give `user` the live accounts of the first demo CSM, so that the demo login has a book
    of its own ("my accounts", "my tasks"); returns how many accounts moved."""
    first_csm = demo_csm_ids()[0]
    moved = rowcount(
        db.session.execute(
            update(Account).where(Account.owner_id == first_csm).values(owner_id=user.id)
        )
    )
    db.session.execute(update(Task).where(Task.owner_id == first_csm).values(owner_id=user.id))
    db.session.commit()
    return moved


def clear_book(connection: Connection) -> None:
    """Delete every account with all rows that belong to accounts, and the demo runs.

    Rows that only point at an account (ON DELETE SET NULL) stay, with the pointer cleared.
    """
    owned = account_owned_tables()
    if connection.dialect.name == "postgresql":
        slow = _referenced_from_outside(owned)
        quick = [table for table in owned if table not in slow]
        names = ", ".join(connection.dialect.identifier_preparer.format_table(t) for t in quick)
        connection.execute(text(f"TRUNCATE {names}"))
        owned = [table for table in owned if table in slow]
    for table in owned:
        connection.execute(delete(table))
    connection.execute(delete(DemoRun.__table__))


def account_owned_tables() -> list[Table]:
    """`accounts` and every table whose rows are deleted with an account (ON DELETE CASCADE,
    directly or through another such table), children first."""
    owned = {db.metadata.tables["accounts"]}
    for table in db.metadata.sorted_tables:
        if any(
            fk.column.table in owned and (fk.ondelete or "").upper() == "CASCADE"
            for fk in table.foreign_keys
        ):
            owned.add(table)
    return [table for table in reversed(db.metadata.sorted_tables) if table in owned]


def _referenced_from_outside(owned: list[Table]) -> set[Table]:
    """Owned tables that TRUNCATE cannot empty: a table outside `owned` points at them, or a
    table that must be emptied row by row does (PostgreSQL truncates only whole FK groups)."""
    outside = [table for table in db.metadata.sorted_tables if table not in owned]
    slow = {fk.column.table for table in outside for fk in table.foreign_keys}
    for table in owned:  # children first, so a table's parents are visited after it
        if table in slow:
            slow |= {fk.column.table for fk in table.foreign_keys}
    return slow & set(owned)


def demo_csm_ids() -> list[int]:
    """The demo's CSMs (created once, with unusable random passwords); their user ids."""
    ids = []
    for name in CSM_NAMES:
        email = f"{slug(name).replace('-', '.')}@{CSM_EMAIL_DOMAIN}"
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = create_user(email, name, "csm", None)
        ids.append(user.id)
    return ids

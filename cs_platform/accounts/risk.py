"""The risk list as a read model: every live account with its latest score, built set-wise.

The default view answers "who needs me this week": accounts in the red or yellow band (the band
in force, overrides included), not scored yet (unknown risk, listed last) or with an open
churn-risk or health-drop task, ordered by ARR at
risk over the next 90 days (ARR x the health model's P(churn within 90 days), the one risk the
whole product shows). The whole book is one click away (`view=all`). Before a model is trained
(cold start) no account has a probability and the order is the scorecard's: lowest health first.

Two small statements find the scoring days; one ranks the ids of all matching accounts (hash joins
of the latest scoring day's rows, never a query per row) with the total; one reads the page's
columns, drivers included, for those ids; one more fetches their 90-day sparklines.

The statements are built once per shape of view (which filters are set, the sort) with every value
a bind parameter, and reused: building and keying a select of this size costs milliseconds.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import BindParameter, RowMapping, Select, bindparam, case, func, or_, select
from sqlalchemy.orm import aliased

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.models import SEGMENTS, Account, AccountListMember, Task, User
from cs_platform.paging import page_count
from cs_platform.request_args import is_database_id
from scoring.models import BANDS, BandOverride, ChurnRisk, HealthScore
from surveys.models import SurveyResponse, detractor_answer

PAGE_SIZE = 50
TREND_DAYS = 7  # the trend column: change since last week
VIEWS = ("action", "all")  # needs action (the default), the whole book
FLAG_TASK_KINDS = ("churn_risk", "health_drop")
SPARKLINE_DAYS = 90
SPARKLINE_STEP_DAYS = 3  # one point every 3 days: 30 points fill a 120-pixel line
DETRACTOR_DAYS = 90
# Column -> default direction when first clicked.
OWNER_CHOICES = ("me", "team", "none")
SORT_COLUMNS = {
    "risk": "desc",
    "name": "asc",
    "score": "asc",
    "band": "asc",
    "trend": "asc",
    "p_churn": "desc",
    "renewal": "asc",
    "arr": "desc",
    "tasks": "desc",
    "owner": "asc",
    "segment": "asc",
}


@dataclass(frozen=True)
class RiskFilters:
    """The list's view, as read from (and written back to) the query string."""

    view: str = "action"
    q: str = ""
    owner: str = ""  # "", "me", "team" (the signed-in lead's team), "none" or a user id
    segment: str = ""
    band: str = ""
    renewal_within: int | None = None
    detractor: bool = False
    account_list: int | None = None  # accounts on this account list (`list` in the URL)
    sort: str = "risk"
    direction: str = "desc"
    page: int = 1

    @classmethod
    def from_args(cls, args: Any) -> RiskFilters:
        """Parse request args, dropping anything not allowed instead of trusting it."""
        owner = args.get("owner", "")
        sort = args.get("sort", "risk")
        sort = sort if sort in SORT_COLUMNS else "risk"
        direction = args.get("dir", "")
        within = args.get("renewal_within", "")
        page = args.get("page", "")
        return cls(
            view=args.get("view", "") if args.get("view") in VIEWS else "action",
            q=args.get("q", "").strip()[:100],
            owner=owner if owner in OWNER_CHOICES or is_database_id(owner) else "",
            segment=args.get("segment", "") if args.get("segment") in SEGMENTS else "",
            band=args.get("band", "") if args.get("band") in BANDS else "",
            renewal_within=min(int(within), 3650) if is_database_id(within) else None,
            detractor=args.get("detractor") in ("1", "on", "y"),
            account_list=int(args["list"]) if is_database_id(args.get("list", "")) else None,
            sort=sort,
            direction=direction if direction in ("asc", "desc") else SORT_COLUMNS[sort],
            page=max(int(page), 1) if page.isdecimal() and len(page) < 7 else 1,
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string arguments of this view (defaults left out), with `changes` applied."""
        view = replace(self, **changes)
        values = dict(vars(view))  # plain values: asdict's deep copy costs on every link
        values["dir"] = values.pop("direction")
        values["list"] = values.pop("account_list")
        values["detractor"] = "1" if view.detractor else ""
        defaults = {"view": "action", "sort": "risk", "dir": SORT_COLUMNS[view.sort], "page": 1}
        return {
            key: value
            for key, value in values.items()
            if value not in ("", None, False) and defaults.get(key) != value
        }

    def shape(self) -> RiskShape:
        """What decides this view's SQL, its values left out."""
        owner = "id" if self.owner not in ("", "none", "team") else self.owner
        return RiskShape(
            self.view,
            bool(self.q),
            owner,
            bool(self.segment),
            bool(self.band),
            self.renewal_within is not None,
            self.detractor,
            self.account_list is not None,
            self.sort,
            self.direction,
        )

    def sort_args(self, column: str) -> dict[str, Any]:
        """Arguments for a column header link: toggles direction on the current column."""
        if column == self.sort:
            flipped = "asc" if self.direction == "desc" else "desc"
            return self.args(sort=column, direction=flipped, page=1)
        return self.args(sort=column, direction=SORT_COLUMNS[column], page=1)


@dataclass(frozen=True)
class RiskShape:
    """The filters a view sets and its sort: one statement per shape, values bound at run time."""

    view: str
    q: bool
    owner: str  # "", "none", "team" or "id" (the signed-in user's or another's)
    segment: bool
    band: bool
    renewal_within: bool
    detractor: bool
    account_list: bool
    sort: str
    direction: str


@dataclass
class RiskRow:
    """One account of the list, with what a CSM needs to decide whom to call."""

    account_id: int
    name: str
    domain: str | None
    segment: str
    arr: Decimal
    renewal_date: dt.date | None
    owner_id: int | None
    owner_name: str | None
    score: float | None
    model_band: str | None
    override_band: str | None
    band: str | None
    trend: float | None
    p_churn: float | None  # P(churn within 90 days), the health model's
    p_churn_renewal: float | None  # P(churn before renewal), the survival model's
    arr_at_risk: Decimal | None
    open_tasks: int
    drivers: list[dict] = field(default_factory=list)
    sparkline: list[float] = field(default_factory=list)
    week_change: dict = field(default_factory=dict)  # HealthScore.changes["7"]

    @classmethod
    def from_row(cls, row: RowMapping) -> RiskRow:
        """A row of `risk_query`, with its two strongest drivers and its change since last week
        (from its latest score's drivers and changes)."""
        values = dict(row)
        drivers, changes = values.pop("drivers") or [], values.pop("changes") or {}
        week_change = changes.get(str(TREND_DAYS)) or {}
        return cls(**values, drivers=list(drivers)[:2], week_change=week_change)

    def days_to_renewal(self, today: dt.date) -> int | None:
        return None if self.renewal_date is None else (self.renewal_date - today).days


@dataclass(frozen=True)
class RiskPage:
    rows: list[RiskRow]
    total: int
    page: int
    per_page: int = PAGE_SIZE
    cold_start: bool = False  # no churn probability yet: ordered by the scorecard

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)


@dataclass(frozen=True)
class ScoringDays:
    """The days the list reads: the latest scoring run of each kind and the one ~30 days earlier.

    A scoring run writes every live account's row for its day in one transaction, so the latest
    scores are the rows of the latest day: an equality join on an indexed date, not a per-account
    search for its newest row (which costs a probe per account on 10k accounts).
    """

    health: dt.date
    risk: dt.date
    prior: dt.date | None
    probabilities: bool = False  # the latest day's scores carry a churn probability (a model)

    @classmethod
    def latest(cls) -> ScoringDays:
        """The days, in two statements: the latest of each kind (and whether the health day has
        probabilities), then the prior day, which needs the first."""
        latest_statement, prior_statement = _scoring_day_statements()
        health, risk, probabilities = db.session.execute(latest_statement).one()
        health = health or clock.today()
        before = health - dt.timedelta(days=TREND_DAYS)
        prior = db.session.scalar(prior_statement, {"before": before})
        return cls(health, risk or health, prior, bool(probabilities))


@functools.cache
def _scoring_day_statements() -> tuple[Select, Select]:
    """The latest days of each kind with the probabilities flag; the latest day up to `before`."""
    health_day = select(func.max(HealthScore.scored_on)).scalar_subquery()
    with_probability = select(HealthScore.id).where(
        HealthScore.scored_on == health_day, HealthScore.churn_probability.is_not(None)
    )
    latest = select(
        health_day,
        select(func.max(ChurnRisk.scored_on)).scalar_subquery(),
        with_probability.exists(),
    )
    prior = select(func.max(HealthScore.scored_on)).where(
        HealthScore.scored_on <= bindparam("before")
    )
    return latest, prior


def reference_day() -> dt.date:
    """The latest scoring day, or today before any score."""
    return ScoringDays.latest().health


def active_overrides(today: dt.date | BindParameter):
    """The override in force of each account that has one (the newest when several are open):
    every BandOverride column, one row per account_id."""
    newest = (
        select(func.max(BandOverride.id).label("id"))
        .where(BandOverride.ended_at.is_(None), BandOverride.expires_on >= today)
        .group_by(BandOverride.account_id)
        .subquery("newest_override")
    )
    return select(BandOverride).join(newest, newest.c.id == BandOverride.id).subquery("override")


def _flagged():
    """Ids of accounts with an open (or snoozed) churn-risk or health-drop task."""
    return select(Task.account_id).where(Task.status != "done", Task.kind.in_(FLAG_TASK_KINDS))


def _open_tasks():
    return (
        select(Task.account_id, func.count().label("open_tasks"))
        .where(Task.status != "done")
        .group_by(Task.account_id)
        .subquery("open_task_counts")
    )


def detractor_accounts(since: dt.datetime | BindParameter) -> Select:
    """Ids of accounts with a detractor answer (any survey kind) since `since`."""
    return select(SurveyResponse.account_id).where(
        SurveyResponse.responded_at >= since, detractor_answer()
    )


def risk_values(
    filters: RiskFilters, user_id: int, today: dt.date, days: ScoringDays
) -> dict[str, Any]:
    """The bind parameters of the view's statements (those its shape leaves out are unused)."""
    owner = user_id if filters.owner in ("me", "team") else filters.owner
    return {
        "health_day": days.health,
        "prior_day": days.prior,
        "risk_day": days.risk,
        "today": today,
        "pattern": f"%{filters.q.lower()}%",
        "owner_id": int(owner) if is_database_id(str(owner)) else None,
        "segment": filters.segment,
        "band": filters.band,
        "horizon": today + dt.timedelta(days=filters.renewal_within or 0),
        "detractor_since": dt.datetime.combine(
            today - dt.timedelta(days=DETRACTOR_DAYS), dt.time()
        ),
        "list_id": filters.account_list,
        "page_size": PAGE_SIZE,
        "offset": (filters.page - 1) * PAGE_SIZE,
    }


def risk_query(filters: RiskFilters, user_id: int, today: dt.date, days: ScoringDays) -> Select:
    """All matching live accounts with the list's columns, sorted, not yet paged, values bound."""
    statement = risk_statements(filters.shape()).view
    return statement.params(risk_values(filters, user_id, today, days))


@dataclass(frozen=True)
class RiskStatements:
    """The statements of one shape of view; their parameters come from `risk_values`."""

    view: Select  # every matching row with the list's columns, sorted
    ranking: Select  # one page of ids with the total
    count: Select  # the total alone, for a page past the last
    rows: Select  # the columns of the accounts whose ids are `ids`


@functools.lru_cache(maxsize=256)
def risk_statements(shape: RiskShape) -> RiskStatements:
    """The statements of views of this shape, built once (a few milliseconds each time)."""
    view = _risk_select(shape)
    ranking = view.with_only_columns(Account.id, func.count().over())
    return RiskStatements(
        view=view,
        ranking=ranking.limit(bindparam("page_size")).offset(bindparam("offset")),
        count=select(func.count()).select_from(view.order_by(None).subquery()),
        rows=view.where(Account.id.in_(bindparam("ids", expanding=True))).order_by(None),
    )


def _risk_select(shape: RiskShape) -> Select:
    latest, prior = aliased(HealthScore), aliased(HealthScore)
    churn, owner = aliased(ChurnRisk), aliased(User)
    override, tasks = active_overrides(bindparam("today")), _open_tasks()
    band = func.coalesce(override.c.band, latest.band)
    arr_at_risk = Account.arr * latest.churn_probability
    open_tasks = func.coalesce(tasks.c.open_tasks, 0)
    columns = {
        "risk": arr_at_risk,
        "name": func.lower(Account.name),
        "score": latest.score,
        "band": case({"red": 0, "yellow": 1, "green": 2}, value=band),
        "trend": latest.score - prior.score,
        "p_churn": latest.churn_probability,
        "renewal": Account.renewal_date,
        "arr": Account.arr,
        "tasks": open_tasks,
        "owner": func.lower(owner.name),
        "segment": Account.segment,
    }
    on_day = {
        latest: latest.scored_on == bindparam("health_day"),
        prior: prior.scored_on == bindparam("prior_day"),
        churn: churn.scored_on == bindparam("risk_day"),
    }
    query = (
        select(
            Account.id.label("account_id"),
            Account.name,
            Account.domain,
            Account.segment,
            Account.arr,
            Account.renewal_date,
            Account.owner_id,
            owner.name.label("owner_name"),
            latest.score,
            latest.band.label("model_band"),
            override.c.band.label("override_band"),
            band.label("band"),
            columns["trend"].label("trend"),
            latest.churn_probability.label("p_churn"),
            churn.p_churn_before_renewal.label("p_churn_renewal"),
            arr_at_risk.label("arr_at_risk"),
            open_tasks.label("open_tasks"),
            latest.drivers,
            latest.changes,
        )
        .outerjoin(latest, (latest.account_id == Account.id) & on_day[latest])
        .outerjoin(prior, (prior.account_id == Account.id) & on_day[prior])
        .outerjoin(churn, (churn.account_id == Account.id) & on_day[churn])
        .outerjoin(override, override.c.account_id == Account.id)
        .outerjoin(tasks, tasks.c.account_id == Account.id)
        .outerjoin(owner, owner.id == Account.owner_id)
        .where(Account.churned_at.is_(None))
    )
    query = _filtered(query, shape, band)
    key = columns[shape.sort]
    ordered = key.desc() if shape.direction == "desc" else key.asc()
    # Without probabilities (cold start) ARR at risk is unknown: lowest health first.
    return query.order_by(ordered.nulls_last(), latest.score.asc().nulls_last(), Account.id)


@dataclass(frozen=True)
class FilterColumns:
    """The columns a view's conditions read: the accounts table's, or a subquery's of the same
    names (the saved views' counts), with the band in force."""

    id: Any
    name: Any
    domain: Any
    owner_id: Any
    segment: Any
    renewal_date: Any
    band: Any


Param = Callable[[str], Any]  # a value by name: a bind parameter, or the value itself


def view_conditions(shape: RiskShape, cols: FilterColumns, param: Param) -> list[Any]:
    """The WHERE conditions of a view of `shape` over `cols`, values from `param` (named as in
    `risk_values`): one definition for the list, its export and the saved views' counts."""
    conditions: list[Any] = []
    if shape.view == "action":
        flagged = cols.id.in_(_flagged())
        conditions.append(or_(cols.band.in_(("red", "yellow")), cols.band.is_(None), flagged))
    if shape.q:
        pattern = param("pattern")
        conditions.append(
            or_(func.lower(cols.name).like(pattern), func.lower(cols.domain).like(pattern))
        )
    if shape.owner == "none":
        conditions.append(cols.owner_id.is_(None))
    elif shape.owner == "team":
        conditions.append(cols.owner_id.in_(team_ids(param("owner_id"))))
    elif shape.owner:
        conditions.append(cols.owner_id == param("owner_id"))
    if shape.segment:
        conditions.append(cols.segment == param("segment"))
    if shape.band:
        conditions.append(cols.band == param("band"))
    if shape.renewal_within:
        conditions.append(cols.renewal_date >= param("today"))
        conditions.append(cols.renewal_date <= param("horizon"))
    if shape.detractor:
        conditions.append(cols.id.in_(detractor_accounts(param("detractor_since"))))
    if shape.account_list:
        members = select(AccountListMember.account_id).where(
            AccountListMember.list_id == param("list_id")
        )
        conditions.append(cols.id.in_(members))
    return conditions


def team_ids(lead_id: Any) -> Select:
    """Ids of a team lead's team: the lead and every user whose team lead they are."""
    return select(User.id).where(or_(User.id == lead_id, User.team_lead_id == lead_id))


def _filtered(query: Select, shape: RiskShape, band) -> Select:
    cols = FilterColumns(
        Account.id,
        Account.name,
        Account.domain,
        Account.owner_id,
        Account.segment,
        Account.renewal_date,
        band,
    )
    return query.where(*view_conditions(shape, cols, bindparam))


def risk_page(filters: RiskFilters, user_id: int, today: dt.date | None = None) -> RiskPage:
    """One page of the list with its total, drivers and sparklines.

    The ranking statement selects only account ids (PostgreSQL drops the joins that neither the
    filters nor the sort key use); the page's columns are then read for those 50 ids only.
    """
    today = today or clock.today()
    days = ScoringDays.latest()
    statements = risk_statements(filters.shape())
    values = risk_values(filters, user_id, today, days)
    ranked = db.session.execute(statements.ranking, values).all()
    total = ranked[0][1] if ranked else db.session.execute(statements.count, values).scalar_one()
    ids = [account_id for account_id, _ in ranked]
    found = db.session.execute(statements.rows, {**values, "ids": ids}).mappings()
    by_id = {row["account_id"]: RiskRow.from_row(row) for row in found}
    rows = [by_id[account_id] for account_id in ids]
    _attach_sparklines(rows, days.health)
    return RiskPage(rows, total or 0, filters.page, cold_start=not days.probabilities)


@functools.cache
def _sparkline_statement() -> Select:
    """(account_id, score) of the accounts `ids` on the days `days`, in order: plain rows (the
    table's columns, not the ORM's), 1,500 of them on a full page."""
    scores = HealthScore.__table__.c
    return (
        select(scores.account_id, scores.score)
        .where(
            scores.account_id.in_(bindparam("ids", expanding=True)),
            scores.scored_on.in_(bindparam("days", expanding=True)),
        )
        .order_by(scores.account_id, scores.scored_on)
    )


def _attach_sparklines(rows: list[RiskRow], day: dt.date) -> None:
    """Fill the page's 90-day sparklines (every third day) with one query."""
    points: dict[int, list[float]] = defaultdict(list)
    days = [day - dt.timedelta(days=back) for back in range(0, SPARKLINE_DAYS, SPARKLINE_STEP_DAYS)]
    ids = [row.account_id for row in rows]
    for account_id, score in db.session.execute(_sparkline_statement(), {"ids": ids, "days": days}):
        points[account_id].append(score)
    for row in rows:
        row.sparkline = points.get(row.account_id, [])


def export_rows(filters: RiskFilters, user_id: int, today: dt.date) -> Iterator[RiskRow]:
    """Every row of the view (no paging), drivers included, streamed in chunks."""
    statement = risk_statements(filters.shape()).view.execution_options(yield_per=500)
    values = risk_values(filters, user_id, today, ScoringDays.latest())
    for row in db.session.execute(statement, values).mappings():
        yield RiskRow.from_row(row)

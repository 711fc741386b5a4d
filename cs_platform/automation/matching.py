"""Which accounts a rule holds for now: its trigger and conditions as one SQL statement.

`matching(definition, moment, rule_id)` is a select of (account_id, detail) over the live book,
`detail` being the number its reason quotes (the score, the drop, the probability...). The
scoring days are read once per run (`Moment.read`), so every rule of a run sees the same days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from cs_platform import clock
from cs_platform.accounts.risk import active_overrides
from cs_platform.accounts.traits import all_definitions, parse_filter
from cs_platform.automation.models import BandDay, RuleMatch, UsageWeek
from cs_platform.extensions import db
from cs_platform.models import Account, AccountListMember, AccountTrait
from integrations.models import SupportTicket, UsageDaily
from scoring.models import ChurnRisk, HealthScore
from surveys.models import SurveyResponse
from surveys.survey_metrics import BAND_LIMITS

OPEN_TICKET_STATUSES = ("new", "open", "pending", "hold")
RECENT = dt.timedelta(days=1)  # answers and trait changes this recent trigger
USAGE_TRIGGERS = ("usage_drop", "seat_utilisation")


@dataclass(frozen=True)
class Moment:
    """The instant a run evaluates at, with the days it reads."""

    now: dt.datetime
    today: dt.date
    health_day: dt.date | None  # the latest scoring day
    prior_day: dt.date | None  # the scoring day before it
    risk_day: dt.date | None  # the latest churn-risk day
    usage_end: dt.date  # the day after the latest usage day: weeks end here
    usage_weeks: bool = False  # UsageWeek holds this moment's weekly usage (refresh_run_tables)
    band_days: bool = False  # BandDay holds this moment's bands (refresh_run_tables)

    @classmethod
    def read(cls, now: dt.datetime | None = None) -> Moment:
        """The days as the database has them now (three small statements)."""
        now = now or clock.utcnow()
        health_day, risk_day, usage_day = db.session.execute(
            select(
                select(func.max(HealthScore.scored_on)).scalar_subquery(),
                select(func.max(ChurnRisk.scored_on)).scalar_subquery(),
                select(func.max(UsageDaily.day)).scalar_subquery(),
            )
        ).one()
        prior = None
        if health_day is not None:
            earlier = select(func.max(HealthScore.scored_on)).where(
                HealthScore.scored_on < health_day
            )
            prior = db.session.scalar(earlier)
        today = clock.business_date(now)
        usage_end = usage_day + dt.timedelta(days=1) if usage_day else today
        return cls(now, today, health_day, prior, risk_day, usage_end)

    def score_day_before(self, days: int) -> dt.date | None:
        """The latest scoring day at least `days` before the latest one."""
        if self.health_day is None:
            return None
        cutoff = self.health_day - dt.timedelta(days=days)
        return db.session.scalar(
            select(func.max(HealthScore.scored_on)).where(HealthScore.scored_on <= cutoff)
        )


def live_accounts() -> ColumnElement[bool]:
    return and_(Account.churned_at.is_(None), Account.lifecycle_stage != "churned")


def scores_on(day: dt.date | None, name: str):
    """Health scores of one day, aliased (no rows when `day` is None)."""
    scores = aliased(HealthScore, name=name)
    on_day = scores.scored_on == day if day else literal(False)
    return scores, and_(scores.account_id == Account.id, on_day)


def band_days_query(moment: Moment) -> Select:
    """Every scored account's band in force today (an override first), its band on the scoring
    day before, and its latest score."""
    latest, on_latest = scores_on(moment.health_day, "latest")
    prior, on_prior = scores_on(moment.prior_day, "prior")
    override = active_overrides(moment.today)
    return (
        select(
            Account.id.label("account_id"),
            func.coalesce(override.c.band, latest.band).label("band"),
            prior.band.label("prior_band"),
            latest.score.label("score"),
        )
        .join(latest, on_latest)
        .outerjoin(prior, on_prior)
        .outerjoin(override, override.c.account_id == Account.id)
    )


def _band_days(moment: Moment):
    """The bands: the table a run refreshed, or else (a dry run) computed in place."""
    if moment.band_days:
        return BandDay.__table__
    return band_days_query(moment).subquery("band_days")


def _band_entered(trigger: Mapping[str, Any], moment: Moment) -> Select:
    days = _band_days(moment)
    band, prior = days.c.band, days.c.prior_band
    entered = and_(band == trigger["band"], or_(prior.is_(None), prior != trigger["band"]))
    return (
        select(Account.id, days.c.score.label("detail"))
        .join(days, days.c.account_id == Account.id)
        .where(entered)
    )


def _band_left(trigger: Mapping[str, Any], moment: Moment) -> Select:
    days = _band_days(moment)
    left = and_(days.c.prior_band == trigger["band"], days.c.band != trigger["band"])
    return (
        select(Account.id, days.c.score.label("detail"))
        .join(days, days.c.account_id == Account.id)
        .where(left)
    )


def _score_drop(trigger: Mapping[str, Any], moment: Moment) -> Select:
    latest, on_latest = scores_on(moment.health_day, "latest")
    before, on_before = scores_on(moment.score_day_before(trigger["days"]), "before")
    drop = before.score - latest.score
    return (
        select(Account.id, drop.label("detail"))
        .join(latest, on_latest)
        .join(before, on_before)
        .where(drop >= trigger["points"])
    )


def _churn_risk_above(trigger: Mapping[str, Any], moment: Moment) -> Select:
    on_day = ChurnRisk.scored_on == moment.risk_day if moment.risk_day else literal(False)
    return (
        select(Account.id, ChurnRisk.p_churn_before_renewal.label("detail"))
        .join(ChurnRisk, and_(ChurnRisk.account_id == Account.id, on_day))
        .where(ChurnRisk.p_churn_before_renewal > trigger["probability"])
    )


def _weekly_usage(moment: Moment):
    """Per account: events this week and the week before, and the most active users of a day
    this week: the table a run refreshed, or else (a dry run) computed in place."""
    if moment.usage_weeks:
        return UsageWeek.__table__
    return weekly_usage_query(moment).subquery("weekly_usage")


def weekly_usage_query(moment: Moment) -> Select:
    """The weekly usage of every account with usage in the last two weeks (weeks end at the
    latest usage day; sources combined as the features read them)."""
    this_week = moment.usage_end - dt.timedelta(days=7)
    last_week = moment.usage_end - dt.timedelta(days=14)
    days = UsageDaily.combined(UsageDaily.day >= last_week, UsageDaily.day < moment.usage_end)
    recent = days.c.day >= this_week
    return select(
        days.c.account_id,
        func.sum(case_sum(recent, days.c.events)).label("this_week"),
        func.sum(case_sum(~recent, days.c.events)).label("last_week"),
        func.max(case_sum(recent, days.c.active_users)).label("active_users"),
    ).group_by(days.c.account_id)


def refresh_run_tables(moment: Moment, usage: bool) -> Moment:
    """Compute once for a run what many rules read: every account's bands, and (`usage`) its
    weekly usage; the moment that reads them."""
    db.session.execute(delete(BandDay))
    columns = ["account_id", "band", "prior_band", "score"]
    db.session.execute(insert(BandDay).from_select(columns, band_days_query(moment)))
    if not usage:
        return replace(moment, band_days=True)
    db.session.execute(delete(UsageWeek))
    columns = ["account_id", "this_week", "last_week", "active_users"]
    db.session.execute(insert(UsageWeek).from_select(columns, weekly_usage_query(moment)))
    return replace(moment, band_days=True, usage_weeks=True)


def case_sum(condition: ColumnElement[bool], value: ColumnElement) -> ColumnElement:
    """`value` where `condition` holds, else 0 (to sum two windows in one pass)."""
    return case((condition, value), else_=0)


def _usage_drop(trigger: Mapping[str, Any], moment: Moment) -> Select:
    usage = _weekly_usage(moment)
    change = (usage.c.this_week - usage.c.last_week) * 100.0 / usage.c.last_week
    return (
        select(Account.id, change.label("detail"))
        .join(usage, usage.c.account_id == Account.id)
        .where(usage.c.last_week > 0, change <= -trigger["percent"])
    )


def _seat_utilisation(trigger: Mapping[str, Any], moment: Moment) -> Select:
    usage = _weekly_usage(moment)
    share = func.coalesce(usage.c.active_users, 0) * 1.0 / Account.seats
    beyond = (
        share > trigger["share"] if trigger["direction"] == "above" else share < trigger["share"]
    )
    return (
        select(Account.id, share.label("detail"))
        .outerjoin(usage, usage.c.account_id == Account.id)
        .where(Account.seats > 0, beyond)
    )


def _survey_answer(trigger: Mapping[str, Any], moment: Moment) -> Select:
    in_band = [
        (SurveyResponse.score <= worst)
        if trigger["category"] == "detractor"
        else and_(SurveyResponse.score > worst, SurveyResponse.score < best)
        for worst, best in BAND_LIMITS.values()
    ]
    by_kind = or_(
        *(
            and_(SurveyResponse.kind == kind, rule)
            for kind, rule in zip(BAND_LIMITS, in_band, strict=True)
        )
    )
    answers = (
        select(SurveyResponse.account_id, func.min(SurveyResponse.score).label("score"))
        .where(SurveyResponse.responded_at >= moment.now - RECENT, by_kind)
        .group_by(SurveyResponse.account_id)
        .subquery("answers")
    )
    return select(Account.id, answers.c.score.label("detail")).join(
        answers, answers.c.account_id == Account.id
    )


def _ticket_backlog(trigger: Mapping[str, Any], moment: Moment) -> Select:
    backlog = (
        select(SupportTicket.account_id, func.count().label("open_tickets"))
        .where(SupportTicket.status.in_(OPEN_TICKET_STATUSES))
        .group_by(SupportTicket.account_id)
        .subquery("backlog")
    )
    return (
        select(Account.id, backlog.c.open_tickets.label("detail"))
        .join(backlog, backlog.c.account_id == Account.id)
        .where(backlog.c.open_tickets > trigger["count"])
    )


def _renewal_within(trigger: Mapping[str, Any], moment: Moment) -> Select:
    horizon = moment.today + dt.timedelta(days=trigger["days"])
    return select(Account.id, Account.renewal_date.label("detail")).where(
        Account.renewal_date >= moment.today, Account.renewal_date <= horizon
    )


def _trait_changed(trigger: Mapping[str, Any], moment: Moment) -> Select:
    return select(Account.id, null().label("detail")).join(
        AccountTrait,
        and_(
            AccountTrait.account_id == Account.id,
            AccountTrait.key == trigger["key"],
            AccountTrait.updated_at >= moment.now - RECENT,
        ),
    )


TRIGGERS: dict[str, Callable[[Mapping[str, Any], Moment], Select]] = {
    "band_entered": _band_entered,
    "band_left": _band_left,
    "score_drop": _score_drop,
    "churn_risk_above": _churn_risk_above,
    "usage_drop": _usage_drop,
    "seat_utilisation": _seat_utilisation,
    "survey_answer": _survey_answer,
    "ticket_backlog": _ticket_backlog,
    "renewal_within": _renewal_within,
    "trait_changed": _trait_changed,
}


def matching(definition: Mapping[str, Any], moment: Moment, rule_id: int | None = None) -> Select:
    """(account_id, detail) of every live account the rule's trigger and conditions hold for."""
    trigger = definition["trigger"]
    query = TRIGGERS[trigger["type"]](trigger, moment).where(live_accounts())
    clauses = condition_clauses(definition["conditions"], moment, rule_id)
    return query.where(*clauses)


def condition_clauses(
    conditions: list[Mapping[str, Any]], moment: Moment, rule_id: int | None = None
) -> list[ColumnElement[bool]]:
    """WHERE clauses on Account for the conditions; ValueError naming a trait that is gone."""
    return [_clause(condition, moment, rule_id) for condition in conditions]


def _clause(
    condition: Mapping[str, Any], moment: Moment, rule_id: int | None
) -> ColumnElement[bool]:
    field, op, value = condition["field"], condition["op"], condition["value"]
    clause = CLAUSES[field](op, value, moment, rule_id)
    return not_(clause) if op in ("not_in", "ne") else clause


def _column_in(column: Any) -> Callable[..., ColumnElement[bool]]:
    return lambda op, value, moment, rule_id: column.in_(value)


def _compared(column: Any) -> Callable[..., ColumnElement[bool]]:
    return lambda op, value, moment, rule_id: column >= value if op == "gte" else column <= value


def _owner(op: str, value: Any, moment: Moment, rule_id: int | None) -> ColumnElement[bool]:
    if value == "none":
        return Account.owner_id.is_(None)
    return func.coalesce(Account.owner_id, 0) == value


def _band(op: str, value: Any, moment: Moment, rule_id: int | None) -> ColumnElement[bool]:
    days = _band_days(moment)
    return Account.id.in_(select(days.c.account_id).where(days.c.band == value))


def _health_score(op: str, value: Any, moment: Moment, rule_id: int | None) -> ColumnElement[bool]:
    on_day = HealthScore.scored_on == moment.health_day
    score = HealthScore.score >= value if op == "gte" else HealthScore.score <= value
    return Account.id.in_(select(HealthScore.account_id).where(on_day, score))


def _p_churn(op: str, value: Any, moment: Moment, rule_id: int | None) -> ColumnElement[bool]:
    p = ChurnRisk.p_churn_before_renewal
    above = p >= value if op == "gte" else p <= value
    return Account.id.in_(
        select(ChurnRisk.account_id).where(ChurnRisk.scored_on == moment.risk_day, above)
    )


def _trait(op: str, value: Any, moment: Moment, rule_id: int | None) -> ColumnElement[bool]:
    return parse_filter(value, all_definitions())


def _on_list(op: str, value: Any, moment: Moment, rule_id: int | None) -> ColumnElement[bool]:
    members = select(AccountListMember.account_id).where(AccountListMember.list_id == value)
    return Account.id.in_(members)


def _still_matching(
    op: str, value: Any, moment: Moment, rule_id: int | None
) -> ColumnElement[bool]:
    matched = Account.id.in_(select(RuleMatch.account_id).where(RuleMatch.rule_id == rule_id))
    return matched if value else not_(matched)


CLAUSES: dict[str, Callable[..., ColumnElement[bool]]] = {
    "segment": _column_in(Account.segment),
    "plan": _column_in(Account.plan),
    "lifecycle_stage": _column_in(Account.lifecycle_stage),
    "arr": _compared(Account.arr),
    "owner": _owner,
    "band": _band,
    "health_score": _health_score,
    "p_churn": _p_churn,
    "trait": _trait,
    "list": _on_list,
    "still_matching": _still_matching,
}

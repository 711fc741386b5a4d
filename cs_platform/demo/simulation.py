"""The weekly process behind the demo book: latent account health, usage, tickets, NPS and churn.

Every account has a latent health `z` that drifts back towards the account's own level, with
occasional shocks (a champion leaves, a bad release) and recoveries. Health sets how many seats
are in use, how many tickets are opened and how long they take, and how contacts score NPS.
Each week the observable drivers of `hazard.py` are computed from that data and churn is drawn
from the hazard model, so the drivers really cause churn and the scoring models can find them.

Time is counted in days from the start of the history (`HISTORY_DAYS` before `as_of`); the
simulation also runs `BURN_IN_WEEKS` before it so that drivers have a past on the first day.
Arrays hold one value per account, all accounts advanced together week by week.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import TypeVar

import numpy as np
from sklearn.metrics import roc_auc_score

from cs_platform.demo import hazard
from cs_platform.demo.hazard import HazardModel

HISTORY_WEEKS = 78  # 18 months
HISTORY_DAYS = HISTORY_WEEKS * 7
BURN_IN_WEEKS = 8
WEEKS = BURN_IN_WEEKS + HISTORY_WEEKS
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
MIN_TENURE_WEEKS = 4  # nobody churns in the first month

SEGMENTS = ("smb", "mid_market", "enterprise")
PRIORITIES = ("low", "normal", "high", "urgent")
# Per priority: median minutes to resolve and to first reply for an account of average health.
RESOLUTION_MEDIAN = np.array([4320.0, 2160.0, 720.0, 240.0])
FIRST_REPLY_MEDIAN = np.array([360.0, 180.0, 60.0, 20.0])
# Per segment: tickets per week of an account of average health, NPS answers per contact per week.
TICKET_RATE = np.array([0.08, 0.3, 0.8])
NPS_RATE_PER_CONTACT = 0.022
# Weekly share of the gap to its own level that an account's health closes: a slide lasts months.
HEALTH_REVERSION = 0.03
PERFECT_HORIZON_DAYS, PERFECT_STEP_DAYS = 90, 30  # as the product's training snapshots


@dataclass(frozen=True)
class Calendar:
    """The history's time axis: day 0 is `HISTORY_DAYS` before `as_of`, the last day is the eve."""

    as_of: dt.date

    @property
    def start(self) -> dt.date:
        return self.as_of - dt.timedelta(days=HISTORY_DAYS)

    @property
    def end_minute(self) -> int:
        """`as_of` at midnight, in minutes from the start: every event lies before it."""
        return HISTORY_DAYS * MINUTES_PER_DAY

    def dates(self, days: np.ndarray | int) -> np.ndarray:
        return np.datetime64(self.start, "D") + np.asarray(days).astype("timedelta64[D]")

    def times(self, minutes: np.ndarray) -> np.ndarray:
        offsets = (np.asarray(minutes, dtype=np.int64) * 60).astype("timedelta64[s]")
        return np.datetime64(self.start, "s") + offsets


@dataclass
class Profile:
    """What is fixed about each account: segment, size, contract and latent quality."""

    segment: np.ndarray  # index into SEGMENTS
    seats: np.ndarray
    start_day: np.ndarray  # contract start, days from the history start (negative: before it)
    anniversaries: np.ndarray  # (accounts, years) renewal days, same origin, ascending
    contacts: np.ndarray  # number of contacts
    quality: np.ndarray  # the level health returns to

    @property
    def start_week(self) -> np.ndarray:
        return BURN_IN_WEEKS + np.floor_divide(self.start_day, 7)


@dataclass
class TicketDraws:
    account: np.ndarray
    created: np.ndarray  # minutes from the history start
    priority: np.ndarray  # index into PRIORITIES
    first_reply: np.ndarray  # minutes after creation
    resolution: np.ndarray  # minutes after creation


@dataclass
class AnswerDraws:
    account: np.ndarray
    created: np.ndarray  # minutes from the history start
    score: np.ndarray
    problem: np.ndarray  # index into hazard.PROBLEMS of what the contact is unhappy about, or -1


_Draws = TypeVar("_Draws", TicketDraws, AnswerDraws)


@dataclass
class Simulation:
    """The simulated history: weekly series, events, and each account's true hazard."""

    weekly_users: np.ndarray  # (accounts, WEEKS) active users on a typical weekday
    health: np.ndarray  # (accounts, WEEKS) latent health
    churn_day: np.ndarray  # -1 when the account is still a customer
    last_week: np.ndarray  # last simulated week the account was a customer
    tickets: TicketDraws
    nps: AnswerDraws
    final_hazard: np.ndarray
    mean_hazard: np.ndarray
    contributions: dict[str, np.ndarray]  # log-hazard per driver at the end (or at churn)
    weekly_hazard: np.ndarray  # (accounts, WEEKS) hazard scored at the end of each week, else NaN

    @property
    def churned(self) -> np.ndarray:
        return self.churn_day >= 0


class _State:
    """What the weekly loop carries from one week to the next."""

    def __init__(self, rng: np.random.Generator, profile: Profile, model: HazardModel) -> None:
        n = len(profile.seats)
        self.profile, self.model = profile, model
        self.alive = np.ones(n, dtype=bool)
        self.health = profile.quality + 0.4 * rng.standard_normal(n)
        self.users = np.zeros((n, WEEKS), dtype=np.float32)
        self.health_series = np.zeros((n, WEEKS), dtype=np.float32)
        self.open_tickets = np.zeros(n)
        self.open_high = np.zeros(n)
        self.closing = np.zeros((2, n, WEEKS + 1), dtype=np.int32)  # all / high, by week
        self.last_detractor = np.full(n, -np.inf)
        self.churn_day = np.full(n, -1)
        self.last_week = np.full(n, WEEKS - 1)
        self.hazard_sum = np.zeros(n)
        self.hazard_weeks = np.zeros(n)
        self.final_hazard = np.zeros(n)
        self.weekly_hazard = np.full((n, WEEKS), np.nan, dtype=np.float32)
        self.contributions = {name: np.zeros(n) for name in model.coefficients}
        self.tickets: list[TicketDraws] = []
        self.nps: list[AnswerDraws] = []


def simulate(rng: np.random.Generator, profile: Profile, model: HazardModel) -> Simulation:
    """Run the weekly process for every account and draw churn from `model`."""
    state = _State(rng, profile, model)
    for week in range(WEEKS):
        active = state.alive & (week >= profile.start_week)
        _advance_health(rng, state, week)
        _record_usage(rng, state, week, active)
        _open_tickets(rng, state, week, np.flatnonzero(active))
        _collect_nps(rng, state, week, np.flatnonzero(active))
        _draw_churn(rng, state, week, active)
    _score_unscored(state)
    return Simulation(
        weekly_users=state.users,
        health=state.health_series,
        churn_day=state.churn_day,
        last_week=state.last_week,
        tickets=_concat(TicketDraws, state.tickets),
        nps=_concat(AnswerDraws, state.nps),
        final_hazard=state.final_hazard,
        mean_hazard=state.hazard_sum / np.maximum(state.hazard_weeks, 1),
        contributions=state.contributions,
        weekly_hazard=state.weekly_hazard,
    )


def _advance_health(rng: np.random.Generator, state: _State, week: int) -> None:
    """Mean reversion, noise, and rare shocks down (champion leaves) or up (new sponsor)."""
    n = len(state.health)
    down = (rng.random(n) < 0.008) * rng.uniform(1.0, 2.5, n)
    up = (rng.random(n) < 0.003) * rng.uniform(0.5, 1.2, n)
    drift = HEALTH_REVERSION * (state.profile.quality - state.health)
    state.health = state.health + drift + 0.12 * rng.standard_normal(n) - down + up
    state.health_series[:, week] = state.health


def _record_usage(rng: np.random.Generator, state: _State, week: int, active: np.ndarray) -> None:
    """Weekday active users: a share of seats set by health, ramping up in the first 8 weeks."""
    weeks_in = week - state.profile.start_week
    ramp = np.clip(0.5 + 0.5 * weeks_in / 8, 0.0, 1.0)
    utilisation = 0.9 / (1 + np.exp(-(0.3 + 1.2 * state.health))) * ramp
    noise = rng.lognormal(0.0, 0.05, len(active))
    state.users[:, week] = np.where(active, state.profile.seats * utilisation * noise, 0.0)


def _week_minutes(rng: np.random.Generator, week: int, start_day: np.ndarray) -> np.ndarray:
    """Random times in `week`, mostly in office hours, never before the account's start."""
    n = len(start_day)
    day = np.maximum((week - BURN_IN_WEEKS) * 7 + rng.integers(0, 7, n), start_day)
    minute = np.clip(rng.normal(13 * 60, 150, n), 0, MINUTES_PER_DAY - 1).astype(np.int64)
    return day * MINUTES_PER_DAY + minute


def _open_tickets(rng: np.random.Generator, state: _State, week: int, idx: np.ndarray) -> None:
    """New tickets: more, more urgent and slower to solve for accounts in poor health."""
    profile = state.profile
    rate = TICKET_RATE[profile.segment[idx]] * np.exp(-0.6 * state.health[idx])
    account = np.repeat(idx, rng.poisson(rate))
    n, health = len(account), state.health[account]
    created = _week_minutes(rng, week, profile.start_day[account])
    p_urgent, p_high = 0.04 * np.exp(-0.5 * health), 0.14 * np.exp(-0.3 * health)
    draw = rng.random(n)
    priority = np.select(
        [draw < p_urgent, draw < p_urgent + p_high, draw < p_urgent + p_high + 0.22], [3, 2, 0], 1
    )
    resolution = RESOLUTION_MEDIAN[priority] * np.exp(-0.7 * health) * rng.lognormal(0, 1.0, n)
    reply = FIRST_REPLY_MEDIAN[priority] * np.exp(-0.2 * health) * rng.lognormal(0, 0.8, n)
    ticket = TicketDraws(
        account, created, priority, np.minimum(reply, 0.9 * resolution), resolution
    )
    state.tickets.append(ticket)
    _track_backlog(state, week, ticket)


def _track_backlog(state: _State, week: int, ticket: TicketDraws) -> None:
    """Open tickets at the end of `week`: opened so far minus those solved so far."""
    solved_week = BURN_IN_WEEKS + (ticket.created + ticket.resolution) // MINUTES_PER_WEEK
    solved_week = np.minimum(solved_week.astype(np.int64), WEEKS)
    high = ticket.priority >= 2
    np.add.at(state.closing[0], (ticket.account, solved_week), 1)
    np.add.at(state.closing[1], (ticket.account[high], solved_week[high]), 1)
    n = len(state.open_tickets)
    state.open_tickets += np.bincount(ticket.account, minlength=n) - state.closing[0][:, week]
    state.open_high += np.bincount(ticket.account[high], minlength=n) - state.closing[1][:, week]


def _collect_nps(rng: np.random.Generator, state: _State, week: int, idx: np.ndarray) -> None:
    """NPS answers: about one contact in four answers each quarter; scores follow health."""
    contacts = state.profile.contacts[idx]
    account = np.repeat(idx, rng.poisson(NPS_RATE_PER_CONTACT * contacts))
    raw = 8.0 + 1.6 * state.health[account] + rng.normal(0, 1.2, len(account))
    score = np.clip(np.rint(raw), 0, 10).astype(np.int64)
    created = _week_minutes(rng, week, state.profile.start_day[account])
    latest = {name: values[account] for name, values in state.contributions.items()}
    problem = hazard.likely_problem(rng, latest)
    state.nps.append(AnswerDraws(account, created, score, problem))
    state.last_detractor[account[score <= hazard.DETRACTOR_MAX_SCORE]] = week


def _drivers_at(state: _State, week: int, idx: np.ndarray) -> dict[str, np.ndarray]:
    """The hazard drivers of accounts `idx` at the end of `week`."""
    window = hazard.USAGE_WINDOW_WEEKS
    recent = state.users[idx, week - window + 1 : week + 1].mean(axis=1)
    previous = state.users[idx, week - 2 * window + 1 : week - window + 1].mean(axis=1)
    day = (week - BURN_IN_WEEKS + 1) * 7
    ahead = state.profile.anniversaries[idx] - day
    days_to_renewal = np.where(ahead >= 0, ahead, np.iinfo(np.int64).max).min(axis=1)
    segments = np.array(SEGMENTS, dtype=object)[state.profile.segment[idx]]
    return {
        "usage_decline": hazard.usage_decline(recent, previous),
        "low_seat_utilisation": hazard.low_seat_utilisation(recent, state.profile.seats[idx]),
        "detractor": hazard.detractor(week - state.last_detractor[idx]),
        "ticket_backlog": hazard.ticket_backlog(state.open_tickets[idx], state.open_high[idx]),
        "renewal_near": hazard.renewal_near(days_to_renewal),
        **hazard.segment_effects(segments),
    }


def _score(state: _State, week: int, idx: np.ndarray) -> np.ndarray:
    """Hazard of accounts `idx` at `week`; keeps it as their latest truth."""
    drivers = _drivers_at(state, week, idx)
    rates = state.model.hazard(drivers)
    for name, values in state.model.contributions(drivers).items():
        state.contributions[name][idx] = values
    state.final_hazard[idx] = rates
    state.weekly_hazard[idx, week] = rates
    return rates


def _draw_churn(rng: np.random.Generator, state: _State, week: int, active: np.ndarray) -> None:
    """Churn at the end of `week`, effective on a day of the next week (inside the history).
    Every customer is scored; those past their first month are at risk."""
    if week < BURN_IN_WEEKS or week >= WEEKS - 1:
        return
    scored = np.flatnonzero(active)
    at_risk = week - state.profile.start_week[scored] >= MIN_TENURE_WEEKS
    idx, rates = scored[at_risk], _score(state, week, scored)[at_risk]
    state.hazard_sum[idx] += rates
    state.hazard_weeks[idx] += 1
    leaving = idx[rng.random(len(idx)) < hazard.churn_probability(rates)]
    state.alive[leaving] = False
    state.last_week[leaving] = week
    next_week_day = (week + 1 - BURN_IN_WEEKS) * 7
    state.churn_day[leaving] = next_week_day + rng.integers(0, 7, len(leaving))


def _score_unscored(state: _State) -> None:
    """Accounts too new to have been at risk get their hazard as of the last week."""
    idx = np.flatnonzero(state.hazard_weeks == 0)
    state.hazard_sum[idx] = _score(state, WEEKS - 1, idx)
    state.hazard_weeks[idx] = 1


def _concat(kind: type[_Draws], parts: list[_Draws]) -> _Draws:
    """One set of draws from the weekly ones."""
    names = [field.name for field in fields(kind)]
    return kind(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in names})


def perfect_model(profile: Profile, sim: Simulation) -> dict[str, float | int]:
    """90-day AUC of a model that knows each account's true hazard, on monthly snapshots as
    the product trains: every customer on a snapshot day, label churned within 90 days."""
    days = np.arange(HISTORY_DAYS - PERFECT_HORIZON_DAYS, 7, -PERFECT_STEP_DAYS)
    weeks = BURN_IN_WEEKS + days // 7 - 1  # the hazard governing the snapshot's week
    churn_day = np.where(sim.churned, sim.churn_day, np.iinfo(np.int64).max)[:, None]
    rates = sim.weekly_hazard[:, weeks]
    alive = (profile.start_day[:, None] < days) & (churn_day > days) & ~np.isnan(rates)
    label = (churn_day <= days + PERFECT_HORIZON_DAYS)[alive]
    return {
        "auc_90d": round(float(roc_auc_score(label, rates[alive])), 4),
        "snapshots": len(days),
        "rows": int(alive.sum()),
    }

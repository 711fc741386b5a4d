"""A demo book of business: a realistic B2B SaaS customer base, reproducible from a seed.

`generate_book` draws the accounts, runs the weekly simulation (`simulation.py`) whose churn
follows the hidden hazard model (`hazard.py`), and returns one pandas DataFrame per table, named
and shaped like the table, ids assigned here so that foreign keys line up. Date and timestamp
columns are numpy datetimes (naive UTC); JSON columns hold JSON text. The same seed and `as_of`
give the same data (bar `demo_runs.generated_at`). No database or Flask is needed.

`usage_daily` is the exception: `usage.py` explains why it is produced block by block.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_platform import clock
from cs_platform.demo import activity, wordlists
from cs_platform.demo.hazard import DEFAULT_MODEL, HazardModel, top_drivers
from cs_platform.demo.simulation import (
    HISTORY_DAYS,
    MINUTES_PER_DAY,
    SEGMENTS,
    Calendar,
    Profile,
    Simulation,
    perfect_model,
    simulate,
)
from cs_platform.demo.usage import UsagePlan
from cs_platform.models import utcnow

DEFAULT_OWNER_IDS = (1, 2, 3, 4, 5, 6)
DEFAULT_SURVEY_IDS = {"nps": 1, "csat": 2, "ces": 3}

SEGMENT_SHARES = (0.6, 0.3, 0.1)
# Per segment (smb, mid-market, enterprise): median seats, log-scale spread, seat and contact range.
SEATS_MEDIAN = np.array([12, 90, 700])
SEATS_SIGMA = np.array([0.6, 0.5, 0.6])
SEATS_RANGE = np.array([[3, 60], [25, 500], [150, 8000]])
CONTACTS_RANGE = np.array([[2, 4], [3, 6], [5, 8]])
PLANS = ("starter", "growth", "enterprise")
PLAN_SHARES = np.array([[0.6, 0.4, 0.0], [0.1, 0.6, 0.3], [0.0, 0.1, 0.9]])  # per segment
SEAT_PRICE = np.array([240.0, 420.0, 660.0])  # per plan, per seat and year
ENTERPRISE_DISCOUNT = 0.8
NEW_CUSTOMER_SHARE = 0.3  # accounts whose contract starts inside the history
MAX_TENURE_DAYS = 4 * 365
RENEWAL_YEARS = 8  # anniversaries kept per account: enough for the longest tenure
RENEWING_DAYS = 90
ONBOARDING_DAYS = 90

_STREAMS = ("accounts", "simulation", "contacts", "activity", "usage")
_TABLES = (
    "accounts",
    "external_ids",
    "contacts",
    "support_tickets",
    "survey_responses",
    "tasks",
    "timeline_entries",
    "demo_runs",
    "demo_account_truth",
)


@dataclass
class DemoBook:
    """A generated book: one frame per table; `usage` yields usage_daily in blocks."""

    seed: int
    as_of: dt.date
    accounts: pd.DataFrame
    external_ids: pd.DataFrame
    contacts: pd.DataFrame
    support_tickets: pd.DataFrame
    survey_responses: pd.DataFrame
    tasks: pd.DataFrame
    timeline_entries: pd.DataFrame
    demo_runs: pd.DataFrame
    demo_account_truth: pd.DataFrame
    usage: UsagePlan
    perfect_model: dict[str, float | int]  # how well the true hazard itself ranks 90-day churn

    def tables(self) -> list[tuple[str, pd.DataFrame]]:
        """(table name, frame) pairs, parents before children; usage_daily is not among them."""
        return [(name, getattr(self, name)) for name in _TABLES]

    def row_counts(self) -> dict[str, int]:
        counts = {name: len(frame) for name, frame in self.tables()}
        return counts | {"usage_daily": self.usage.row_count()}


def generate_book(
    accounts: int,
    seed: int,
    as_of: dt.date | None = None,
    *,
    owner_ids: Sequence[int] = DEFAULT_OWNER_IDS,
    survey_ids: dict[str, int] = DEFAULT_SURVEY_IDS,
    model: HazardModel = DEFAULT_MODEL,
) -> DemoBook:
    """Generate `accounts` accounts with 18 months of history up to (not including) `as_of`."""
    if accounts < 1:
        raise ValueError("a demo book needs at least one account")
    calendar = Calendar(as_of or clock.today())
    rng = dict(zip(_STREAMS, _generators(seed), strict=True))
    profile, frame = draw_accounts(rng["accounts"], accounts, calendar, owner_ids)
    sim = simulate(rng["simulation"], profile, model)
    frame = close_accounts(rng["accounts"], calendar, frame, profile, sim)
    contacts = draw_contacts(rng["contacts"], frame, profile)
    history = activity.History(calendar, frame, contacts, profile, sim)
    events = activity.build(rng["activity"], history, survey_ids)
    perfect = perfect_model(profile, sim)
    return DemoBook(
        seed=seed,
        as_of=calendar.as_of,
        accounts=frame.drop(columns=["locale", "top_driver"]),
        external_ids=external_ids(frame["id"].to_numpy()),
        contacts=events.contacts,
        support_tickets=events.tickets,
        survey_responses=events.responses,
        tasks=events.tasks,
        timeline_entries=events.timeline,
        demo_runs=demo_run(
            seed, accounts, calendar.as_of, model.to_json() | {"perfect_model": perfect}
        ),
        demo_account_truth=truth(frame, sim),
        usage=UsagePlan.from_simulation(rng["usage"], calendar, frame, profile, sim),
        perfect_model=perfect,
    )


def _generators(seed: int) -> list[np.random.Generator]:
    """One independent generator per part of the book, so that parts do not shift one another."""
    children = np.random.SeedSequence(seed % 2**63).spawn(len(_STREAMS))
    return [np.random.default_rng(child) for child in children]


def draw_accounts(
    rng: np.random.Generator, n: int, calendar: Calendar, owner_ids: Sequence[int]
) -> tuple[Profile, pd.DataFrame]:
    """What is known about each account before its history: size, plan, contract, owner."""
    segment = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_SHARES)
    seats = np.clip(
        np.rint(rng.lognormal(np.log(SEATS_MEDIAN[segment]), SEATS_SIGMA[segment])),
        *SEATS_RANGE[segment].T,
    ).astype(np.int64)
    plan = choose_rows(rng, PLAN_SHARES[segment])
    start_day = np.where(
        rng.random(n) < NEW_CUSTOMER_SHARE,
        rng.integers(0, HISTORY_DAYS - 14, n),
        -rng.integers(1, MAX_TENURE_DAYS, n),
    )
    renewals = anniversaries(calendar.dates(start_day), RENEWAL_YEARS)
    profile = Profile(
        segment=segment,
        seats=seats,
        start_day=start_day,
        anniversaries=(renewals - calendar.dates(0)).astype(np.int64),
        contacts=rng.integers(*(CONTACTS_RANGE[segment] + [0, 1]).T),
        quality=rng.normal(0.2, 1.0, n),
    )
    locale = rng.choice(len(wordlists.LOCALES), size=n, p=wordlists.LOCALE_SHARES)
    name, domain = company_names(rng, locale)
    price = SEAT_PRICE[plan] * np.where(segment == 2, ENTERPRISE_DISCOUNT, 1.0)
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "name": name,
            "domain": domain,
            "segment": np.array(SEGMENTS)[segment],
            "plan": np.array(PLANS)[plan],
            "arr": np.round(seats * price * rng.uniform(0.85, 1.05, n), -1),
            "seats": seats,
            "contract_start": calendar.dates(start_day),
            "owner_id": rng.choice(np.asarray(owner_ids), size=n),
            "is_demo": True,
            "created_at": calendar.times(start_day * MINUTES_PER_DAY + rng.integers(480, 1080, n)),
            "locale": locale,
        }
    )
    return profile, frame


def close_accounts(
    rng: np.random.Generator,
    calendar: Calendar,
    frame: pd.DataFrame,
    profile: Profile,
    sim: Simulation,
) -> pd.DataFrame:
    """Add what the history decided: churn date and reason, next renewal, lifecycle stage."""
    churned = sim.churned
    end_day = np.where(churned, sim.churn_day, HISTORY_DAYS)
    ahead = np.where(
        profile.anniversaries >= end_day[:, None], profile.anniversaries, np.iinfo(np.int64).max
    )
    renewal_day = ahead.min(axis=1)
    driver = top_drivers(sim.contributions)
    churn_reason = np.full(len(frame), None, dtype=object)
    churn_reason[churned] = [
        _pick(rng, wordlists.CHURN_REASONS[name]) for name in driver[churned].tolist()
    ]
    tenure = HISTORY_DAYS - profile.start_day
    stage = np.select(
        [
            churned,
            tenure < ONBOARDING_DAYS,
            renewal_day - HISTORY_DAYS <= RENEWING_DAYS,
            tenure < 365,
        ],
        ["churned", "onboarding", "renewing", "adopting"],
        "mature",
    )
    churned_at = np.where(churned, calendar.dates(sim.churn_day), np.datetime64("NaT"))
    updated = np.where(
        churned, calendar.times(sim.churn_day * MINUTES_PER_DAY + 600), frame["created_at"]
    )
    return frame.assign(
        renewal_date=calendar.dates(renewal_day),
        lifecycle_stage=stage,
        churned_at=churned_at,
        churn_reason=churn_reason,
        updated_at=updated,
        top_driver=driver,
    )


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def choose_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One index per row of `probabilities` (each row sums to 1)."""
    cumulative = probabilities.cumsum(axis=1)
    cumulative[:, -1] = 1.0
    return (rng.random((len(probabilities), 1)) >= cumulative).sum(axis=1)


def anniversaries(start: np.ndarray, years: int) -> np.ndarray:
    """(accounts, years) anniversaries of `start` dates (29 February falls on the 28th)."""
    month = start.astype("datetime64[M]")
    day_of_month = (start - month.astype("datetime64[D]")).astype(np.int64)
    target = month[:, None] + np.arange(1, years + 1) * 12
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(int)
    offset = np.minimum(day_of_month[:, None], length - 1)
    return target.astype("datetime64[D]") + offset.astype("timedelta64[D]")


def slug(text: str) -> str:
    """ASCII, lower case, words joined by dashes: 'Jörg Müller' -> 'jorg-muller'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "-".join(ascii_text.lower().replace(".", " ").replace("&", " ").split())


def company_names(rng: np.random.Generator, locale: np.ndarray) -> tuple[list[str], list[str]]:
    """Company names (distinct while the word lists allow) and a distinct domain for each."""
    parts = (wordlists.NAME_QUALIFIERS, wordlists.NAME_STEMS, wordlists.NAME_NOUNS)
    shape = tuple(len(part) for part in parts)
    space = int(np.prod(shape))
    codes = rng.choice(space, size=len(locale), replace=len(locale) > space)
    picks = zip(*np.unravel_index(codes, shape), rng.random(len(locale)), locale, strict=True)
    names: list[str] = []
    domains: list[str] = []
    seen: dict[str, int] = {}  # domain stem -> companies named so far
    for q, s, w, draw, loc in picks:
        base = " ".join(word for word in (parts[0][q], parts[1][s], parts[2][w]) if word)
        code = wordlists.LOCALES[loc]
        forms = wordlists.LEGAL_FORMS[code]
        names.append(f"{base} {forms[int(draw * len(forms))]}".strip())
        stem = slug(base)
        seen[stem] = seen.get(stem, 0) + 1
        suffix = "" if seen[stem] == 1 else f"-{seen[stem]}"
        domains.append(f"{stem}{suffix}.{wordlists.TOP_LEVEL_DOMAINS[code]}")
    return names, domains


def draw_contacts(
    rng: np.random.Generator, accounts: pd.DataFrame, profile: Profile
) -> pd.DataFrame:
    """2-8 contacts per account with roles, locales and time zones; emails unique per account."""
    counts = profile.contacts
    account = np.repeat(np.arange(len(counts)), counts)
    position = np.arange(len(account)) - np.repeat(np.cumsum(counts) - counts, counts)
    home = accounts["locale"].to_numpy()[account]
    locale = np.where(
        rng.random(len(account)) < 0.85, home, rng.integers(0, len(wordlists.LOCALES), len(account))
    )
    first, last, zone = _people(rng, locale)
    roles = np.array(["admin", "user", "user", "billing", "champion", "executive"], dtype=object)
    role = roles[rng.integers(0, len(roles), len(account))]
    role[position == 0] = np.where(
        profile.segment[account[position == 0]] == 2, "executive", "decision_maker"
    )
    role[position == 1] = "champion"
    first, last = pd.Series(first), pd.Series(last)
    words = {word: slug(word).replace("-", "") for word in {*first, *last}}
    frame = pd.DataFrame(
        {
            "id": np.arange(1, len(account) + 1),
            "account_id": accounts["id"].to_numpy()[account],
            "email": (first.map(words) + "." + last.map(words)).to_numpy(),
            "name": (first + " " + last).to_numpy(),
            "role": role,
            "locale": np.array(wordlists.LOCALES)[locale],
            "timezone": zone,
            "created_at": accounts["created_at"].to_numpy()[account],
            "position": position,
        }
    )
    repeat = frame.duplicated(["account_id", "email"])
    frame.loc[repeat, "email"] += frame.loc[repeat, "position"].astype(str)
    domains = accounts["domain"].to_numpy()[account]
    frame["email"] = frame["email"] + "@" + domains
    return frame.drop(columns="position")


def _people(rng: np.random.Generator, locale: np.ndarray) -> tuple[np.ndarray, ...]:
    """First name, last name and time zone of each contact, drawn from its locale's lists."""
    first, last, zone = (np.empty(len(locale), dtype=object) for _ in range(3))
    for index, code in enumerate(wordlists.LOCALES):
        mask = locale == index
        size = int(mask.sum())
        for target, options in (
            (first, wordlists.FIRST_NAMES[code]),
            (last, wordlists.LAST_NAMES[code]),
            (zone, wordlists.TIMEZONES[code]),
        ):
            target[mask] = np.array(options, dtype=object)[rng.integers(0, len(options), size)]
    return first, last, zone


def external_ids(account_ids: np.ndarray) -> pd.DataFrame:
    """Each account's company id in the CRM and organisation id in the helpdesk."""
    sources = {"hubspot": 5_100_000_000 + 13 * account_ids, "zendesk": 360_000_000 + account_ids}
    frames = [
        pd.DataFrame({"account_id": account_ids, "source": source, "external_id": ids.astype(str)})
        for source, ids in sources.items()
    ]
    frame = pd.concat(frames, ignore_index=True).sort_values(
        ["account_id", "source"], kind="stable"
    )
    return frame.assign(id=np.arange(1, len(frame) + 1))[
        ["id", "account_id", "source", "external_id"]
    ]


def truth(accounts: pd.DataFrame, sim: Simulation) -> pd.DataFrame:
    """Each account's true hazard: at the end of its history (or at churn) and on average."""
    names = list(sim.contributions)
    matrix = np.column_stack([sim.contributions[name] for name in names]).round(4).tolist()
    return pd.DataFrame(
        {
            "account_id": accounts["id"].to_numpy(),
            "final_hazard": sim.final_hazard,
            "mean_hazard": sim.mean_hazard,
            "churned": sim.churned,
            "top_driver": accounts["top_driver"].to_numpy(),
            "driver_contributions": [
                json.dumps(dict(zip(names, row, strict=True))) for row in matrix
            ],
        }
    )


def demo_run(seed: int, accounts: int, as_of: dt.date, hazard_model: dict) -> pd.DataFrame:
    """The run's row: `hazard_model` is the model with what was measured of it."""
    return pd.DataFrame(
        {
            "id": [1],
            "seed": [seed],
            "accounts": [accounts],
            "as_of": [np.datetime64(as_of, "D")],
            "hazard_model": [json.dumps(hazard_model)],
            "generated_at": [np.datetime64(utcnow(), "s")],
        }
    )

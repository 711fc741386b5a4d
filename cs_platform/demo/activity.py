"""What happened in the demo book's history, as table rows: tickets, survey answers, tasks, notes.

Built set-wise from the simulation's draws. Accounts are identified by position (account id - 1)
and contacts by their row in the contacts frame, which lists each account's contacts together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_platform.demo import wordlists
from cs_platform.demo.hazard import MISSING, PROBLEMS
from cs_platform.demo.simulation import (
    BURN_IN_WEEKS,
    MINUTES_PER_DAY,
    MINUTES_PER_WEEK,
    PRIORITIES,
    WEEKS,
    Calendar,
    Profile,
    Simulation,
)
from surveys.survey_metrics import BAND_LIMITS

CLOSE_AFTER_MINUTES = 4 * MINUTES_PER_DAY  # a solved ticket is closed four days later
OPEN_STATUSES = (("open", 0.6), ("pending", 0.3), ("hold", 0.1))
TICKET_RATED_SHARE = 0.35
CSAT_SHARE = 0.3  # solved tickets whose requester answers the CSAT survey
CES_RATE_PER_CONTACT = 0.008  # CES answers per contact per week
BANDS = ("detractor", "passive", "promoter")
TOPICS = ("product", "support")  # what a comment is about: NPS and CES / CSAT after a ticket
COMMENT_SHARE = {"detractor": 0.6, "passive": 0.3, "promoter": 0.45}
DETRACTOR_TASK_DAYS = 30  # a detractor answer this recent still has an open call-back task
TASK_LOOKBACK_DAYS = 180
RENEWAL_TASK_DAYS = 90
CHECK_IN_RATE = np.array([0.3, 0.7, 1.0])  # CSM notes per quarter, per segment
UNSUBSCRIBED_SHARE, BOUNCED_SHARE = 0.02, 0.01


@dataclass(frozen=True)
class History:
    """What the event tables are drawn from: accounts and contacts, and the simulated weeks."""

    calendar: Calendar
    accounts: pd.DataFrame
    contacts: pd.DataFrame
    profile: Profile
    sim: Simulation


@dataclass
class Activity:
    contacts: pd.DataFrame
    tickets: pd.DataFrame
    responses: pd.DataFrame
    tasks: pd.DataFrame
    timeline: pd.DataFrame


def build(rng: np.random.Generator, history: History, survey_ids: dict[str, int]) -> Activity:
    """Every event table of the book."""
    tickets = ticket_frame(rng, history)
    answers = stack([_nps(history.sim), _csat(rng, history, tickets), _ces(rng, history)])
    answers = answers[answers["minute"] < history.calendar.end_minute]
    responses = response_frame(rng, history, answers, survey_ids)
    return Activity(
        contacts=contact_status(rng, history, responses),
        tickets=tickets.drop(columns=["health"]),
        responses=responses,
        tasks=task_frame(history, responses),
        timeline=timeline_frame(rng, history, responses),
    )


def stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames with the same columns, one after the other (column by column, dtypes kept)."""
    columns = parts[0].columns
    return pd.DataFrame(
        {c: np.concatenate([part[c].to_numpy() for part in parts]) for c in columns}
    )


def _health_at(sim: Simulation, account: np.ndarray, minute: np.ndarray) -> np.ndarray:
    week = np.clip(BURN_IN_WEEKS + minute // MINUTES_PER_WEEK, 0, WEEKS - 1).astype(np.int64)
    return sim.health[account, week]


def ticket_frame(rng: np.random.Generator, history: History) -> pd.DataFrame:
    """Support tickets as the helpdesk shows them on `as_of`: open ones have no solve time."""
    calendar, sim = history.calendar, history.sim
    draws = sim.tickets
    order = np.lexsort((draws.account, draws.created))
    account, created = draws.account[order], draws.created[order]
    reply = np.rint(draws.first_reply[order]).astype(np.int64)
    resolution = np.maximum(np.rint(draws.resolution[order]).astype(np.int64), reply + 1)
    now, n = calendar.end_minute, len(order)
    solved, replied = created + resolution < now, created + reply < now
    waiting = np.array([s for s, _ in OPEN_STATUSES], dtype=object)
    status = np.select(
        [solved & (created + resolution < now - CLOSE_AFTER_MINUTES), solved, ~replied],
        ["closed", "solved", "new"],
        waiting[rng.choice(len(waiting), size=n, p=[p for _, p in OPEN_STATUSES])],
    )
    health = _health_at(sim, account, created)
    log_odds = 2.6 + 0.8 * health - 0.3 * np.log1p(resolution / 60)
    good = rng.random(n) < 1 / (1 + np.exp(-log_odds))
    rated = solved & (rng.random(n) < TICKET_RATED_SHARE)
    updated = np.where(solved, created + resolution, np.where(replied, created + reply, created))
    ids = np.arange(1, n + 1)
    subjects = np.array(wordlists.TICKET_SUBJECTS, dtype=object)
    return pd.DataFrame(
        {
            "id": ids,
            "account_id": account + 1,
            "source": "zendesk",
            "external_id": (100_000 + ids).astype(str),
            "subject": subjects[rng.integers(0, len(subjects), n)],
            "status": status,
            "priority": np.array(PRIORITIES, dtype=object)[draws.priority[order]],
            "created_at": calendar.times(created),
            "updated_at": calendar.times(updated),
            "solved_at": np.where(
                solved, calendar.times(created + resolution), np.datetime64("NaT")
            ),
            "first_reply_minutes": pd.arrays.IntegerArray(reply, mask=~replied),
            "resolution_minutes": pd.arrays.IntegerArray(resolution, mask=~solved),
            "satisfaction": np.where(rated, np.where(good, "good", "bad"), MISSING),
            "health": health,
        }
    )


def _answers(
    kind: str, account: np.ndarray, minute: np.ndarray, score: np.ndarray, problem: object = -1
) -> pd.DataFrame:
    """Answers of one kind; `problem` indexes hazard.PROBLEMS (-1: no particular problem)."""
    frame = {"kind": kind, "account": account, "minute": minute, "score": score}
    return pd.DataFrame(frame | {"problem": problem})


def _nps(sim: Simulation) -> pd.DataFrame:
    nps = sim.nps
    return _answers("nps", nps.account, nps.created, nps.score, nps.problem)


def _csat(rng: np.random.Generator, history: History, tickets: pd.DataFrame) -> pd.DataFrame:
    """CSAT answers a day or so after a solved ticket: worse after slow fixes and in poor health."""
    calendar, sim = history.calendar, history.sim
    solved = tickets[tickets["resolution_minutes"].notna().to_numpy()]
    solved = solved[rng.random(len(solved)) < CSAT_SHARE]
    resolution = solved["resolution_minutes"].to_numpy(dtype=float)
    start = np.datetime64(calendar.start, "s")
    solved_minute = (
        (solved["solved_at"].to_numpy() - start).astype("timedelta64[m]").astype(np.int64)
    )
    minute = solved_minute + rng.integers(30, 2 * MINUTES_PER_DAY, len(solved))
    raw = 4.1 + 0.5 * solved["health"].to_numpy() - 0.25 * np.log1p(resolution / MINUTES_PER_DAY)
    score = np.clip(np.rint(raw + rng.normal(0, 0.8, len(solved))), 1, 5).astype(np.int64)
    account = solved["account_id"].to_numpy() - 1
    still_customer = ~sim.churned[account] | (minute < sim.churn_day[account] * MINUTES_PER_DAY)
    return _answers("csat", account, minute, score)[still_customer]


def _ces(rng: np.random.Generator, history: History) -> pd.DataFrame:
    """CES answers from contacts while the account is a customer; easier when healthy."""
    profile, sim = history.profile, history.sim
    weeks = np.arange(WEEKS)
    live = (weeks >= profile.start_week[:, None]) & (weeks <= sim.last_week[:, None])
    counts = rng.poisson(CES_RATE_PER_CONTACT * profile.contacts[:, None] * live)
    account, week = np.nonzero(counts)
    repeat = counts[account, week]
    account, week = np.repeat(account, repeat), np.repeat(week, repeat)
    day = np.maximum(
        (week - BURN_IN_WEEKS) * 7 + rng.integers(0, 7, len(week)), profile.start_day[account]
    )
    minute = day * MINUTES_PER_DAY + rng.integers(8 * 60, 18 * 60, len(week))
    raw = 5.3 + 0.8 * sim.health[account, week] + rng.normal(0, 1.0, len(week))
    return _answers("ces", account, minute, np.clip(np.rint(raw), 1, 7).astype(np.int64))


def bands(kind: pd.Series, score: pd.Series) -> np.ndarray:
    """Index into BANDS (detractor, passive, promoter) of each answer, by its kind's limits."""
    worst = kind.map({k: limits[0] for k, limits in BAND_LIMITS.items()}).to_numpy()
    best = kind.map({k: limits[1] for k, limits in BAND_LIMITS.items()}).to_numpy()
    return np.select([score <= worst, score >= best], [0, 2], 1)


def response_frame(
    rng: np.random.Generator, history: History, answers: pd.DataFrame, survey_ids: dict[str, int]
) -> pd.DataFrame:
    """Survey answers, each from one of the account's contacts, with a comment now and then."""
    calendar, contacts, profile = history.calendar, history.contacts, history.profile
    answers = answers.sort_values(["minute", "account"], kind="stable").reset_index(drop=True)
    account = answers["account"].to_numpy()
    offsets = np.cumsum(profile.contacts) - profile.contacts
    row = offsets[account] + (rng.random(len(answers)) * profile.contacts[account]).astype(np.int64)
    band = bands(answers["kind"], answers["score"])
    topic = (answers["kind"] == "csat").to_numpy().astype(np.int64)  # index into TOPICS
    locale = pd.Categorical(contacts["locale"], categories=wordlists.LOCALES).codes[row]
    responded_at = calendar.times(answers["minute"].to_numpy())
    return pd.DataFrame(
        {
            "id": np.arange(1, len(answers) + 1),
            "survey_id": answers["kind"].map(survey_ids).to_numpy(),
            "invitation_id": None,
            "account_id": account + 1,
            "contact_id": contacts["id"].to_numpy()[row],
            "kind": answers["kind"].to_numpy(),
            "score": answers["score"].to_numpy(),
            "comment": comments(rng, locale, topic, band, answers["problem"].to_numpy()),
            "responded_at": responded_at,
            "updated_at": np.datetime64("NaT", "s"),
            "changed_at": responded_at,
        }
    )


def comments(
    rng: np.random.Generator,
    locale: np.ndarray,
    topic: np.ndarray,
    band: np.ndarray,
    problem: np.ndarray,
) -> np.ndarray:
    """A comment in the contact's language for some answers, None for the others. Arguments
    are indexes into wordlists.LOCALES, TOPICS, BANDS and hazard.PROBLEMS (-1: none); product
    detractors with a problem write about it."""
    share = np.array([COMMENT_SHARE[name] for name in BANDS])
    chosen = np.flatnonzero(rng.random(len(band)) < share[band])
    group = np.ravel_multi_index(
        (locale[chosen], topic[chosen], band[chosen]),
        (len(wordlists.LOCALES), len(TOPICS), len(BANDS)),
    )
    result = np.full(len(band), None, dtype=object)
    for value in np.unique(group):
        rows = chosen[group == value]
        code, topic_index, band_index = np.unravel_index(
            value, (len(wordlists.LOCALES), len(TOPICS), len(BANDS))
        )
        by_topic = wordlists.COMMENTS[wordlists.LOCALES[code]][TOPICS[topic_index]]
        texts = np.array(by_topic[BANDS[band_index]], dtype=object)
        result[rows] = texts[rng.integers(0, len(texts), len(rows))]
    about = chosen[(topic[chosen] == 0) & (band[chosen] == 0) & (problem[chosen] >= 0)]
    result[about] = _problem_comments(rng, locale[about], problem[about])
    return result


def _problem_comments(
    rng: np.random.Generator, locale: np.ndarray, problem: np.ndarray
) -> np.ndarray:
    """A detractor's comment about `problem` (index into hazard.PROBLEMS) in each language."""
    result = np.empty(len(problem), dtype=object)
    for value in np.unique(locale * len(PROBLEMS) + problem):
        rows = np.flatnonzero(locale * len(PROBLEMS) + problem == value)
        code, name = wordlists.LOCALES[value // len(PROBLEMS)], PROBLEMS[value % len(PROBLEMS)]
        texts = np.array(wordlists.PROBLEM_COMMENTS[code][name], dtype=object)
        result[rows] = texts[rng.integers(0, len(texts), len(rows))]
    return result


def contact_status(
    rng: np.random.Generator, history: History, responses: pd.DataFrame
) -> pd.DataFrame:
    """Last survey answer per contact, and a few who unsubscribed or bounced since."""
    calendar, contacts = history.calendar, history.contacts
    last = responses.groupby("contact_id")["responded_at"].max()
    last_surveyed = contacts["id"].map(last).to_numpy(dtype="datetime64[s]")
    since = np.where(np.isnat(last_surveyed), contacts["created_at"].to_numpy(), last_surveyed)
    now = np.datetime64(calendar.as_of, "s")
    n = len(contacts)

    def some_time_later(share: float) -> np.ndarray:
        when = since + ((now - since) * rng.random(n)).astype("timedelta64[s]")
        return np.where(rng.random(n) < share, when, np.datetime64("NaT"))

    unsubscribed, bounced = some_time_later(UNSUBSCRIBED_SHARE), some_time_later(BOUNCED_SHARE)
    return contacts.assign(
        unsubscribed_at=unsubscribed,
        bounced_at=bounced,
        last_surveyed_at=last_surveyed,
        updated_at=np.fmax(since, np.fmax(unsubscribed, bounced)),  # each one's latest change
    )


def task_frame(history: History, responses: pd.DataFrame) -> pd.DataFrame:
    """Detractor call-backs (open for recent answers, done for older ones) and renewal prep."""
    parts = [_detractor_tasks(history, responses), _renewal_tasks(history)]
    tasks = stack(parts)
    tasks = tasks.sort_values(["created_at", "account_id"], kind="stable")
    return tasks.assign(id=np.arange(1, len(tasks) + 1), snoozed_until=None, snooze_reason=None)


def _detractors(responses: pd.DataFrame) -> pd.DataFrame:
    return responses[(responses["kind"] == "nps") & (responses["score"] <= BAND_LIMITS["nps"][0])]


def _describe(contacts: pd.DataFrame, answers: pd.DataFrame) -> list[str]:
    """'NPS 3 from Anna Weber: “comment”' for each answer."""
    who = contacts.set_index("id").loc[answers["contact_id"], "name"]
    said = answers["comment"].map(lambda c: f": “{c}”" if isinstance(c, str) else "")
    return [
        f"NPS {score} from {name}{comment}"
        for score, name, comment in zip(answers["score"], who, said, strict=True)
    ]


def _detractor_tasks(history: History, responses: pd.DataFrame) -> pd.DataFrame:
    """One call-back per account for its latest detractor answer of the last six months."""
    now = np.datetime64(history.calendar.as_of, "s")
    detractors = _detractors(responses)
    recent = detractors[detractors["responded_at"] >= now - np.timedelta64(TASK_LOOKBACK_DAYS, "D")]
    latest = recent.groupby("account_id").tail(1)
    account = history.accounts.set_index("id").loc[latest["account_id"]]
    churned = account["churned_at"].notna().to_numpy()
    responded = latest["responded_at"].to_numpy()
    is_open = (responded >= now - np.timedelta64(DETRACTOR_TASK_DAYS, "D")) & ~churned
    outcome = np.where(churned, "churned", np.where(latest["score"] >= 4, "saved", "not_a_risk"))
    done_at = np.minimum(responded + np.timedelta64(5, "D"), now - np.timedelta64(1, "h"))
    return pd.DataFrame(
        {
            "account_id": latest["account_id"].to_numpy(),
            "kind": "detractor",
            "severity": "high",
            "owner_id": account["owner_id"].to_numpy(),
            "title": "Call back the detractor at " + account["name"].to_numpy(),
            "reason": "detractor",
            "details": _describe(history.contacts, latest),
            "due_date": (responded + np.timedelta64(2, "D")).astype("datetime64[D]"),
            "status": np.where(is_open, "open", "done"),
            "outcome": np.where(is_open, MISSING, outcome),
            "created_at": responded,
            "completed_at": np.where(is_open, np.datetime64("NaT"), done_at),
        }
    )


def _renewal_tasks(history: History) -> pd.DataFrame:
    """Renewal prep as the daily rule opens it (cs_platform.tasks.services.open_renewal_tasks):
    one task per live customer renewing within RENEWAL_TASK_DAYS, opened when the renewal
    entered the window and due RENEWAL_DUE_DAYS before it. One due over a week ago was worked
    by then (done), so the book does not start with a backlog of overdue renewal tasks."""
    from cs_platform.tasks.services import RENEWAL_DUE_DAYS, renewal_reason

    accounts, as_of = history.accounts, np.datetime64(history.calendar.as_of, "D")
    window = np.timedelta64(RENEWAL_TASK_DAYS, "D")
    renewal = accounts["renewal_date"].to_numpy().astype("datetime64[D]")
    chosen = accounts["churned_at"].isna().to_numpy() & (renewal >= as_of)
    chosen &= renewal - as_of <= window
    accounts, renewal = accounts[chosen], renewal[chosen]
    opened = np.maximum(renewal - window, accounts["created_at"].to_numpy().astype("datetime64[D]"))
    due = np.maximum(renewal - np.timedelta64(RENEWAL_DUE_DAYS, "D"), opened)
    worked = due < as_of - np.timedelta64(7, "D")
    done_at = due.astype("datetime64[s]") + np.timedelta64(15, "h")
    return pd.DataFrame(
        {
            "account_id": accounts["id"].to_numpy(),
            "kind": "renewal",
            "severity": np.where(accounts["segment"] == "enterprise", "high", "medium"),
            "owner_id": accounts["owner_id"].to_numpy(),
            "title": [
                f"Renewal on {day:%d %b %Y}: confirm the decision maker and send the proposal"
                for day in pd.to_datetime(renewal)
            ],
            "reason": [renewal_reason(day) for day in renewal.tolist()],
            "details": "Prepare a value summary (usage, outcomes) before the call.",
            "due_date": due,
            "status": np.where(worked, "done", "open"),
            "outcome": np.where(worked, "not_a_risk", MISSING),
            "created_at": opened.astype("datetime64[s]") + np.timedelta64(9, "h"),
            "completed_at": np.where(worked, done_at, np.datetime64("NaT", "s")),
        }
    )


def timeline_frame(
    rng: np.random.Generator, history: History, responses: pd.DataFrame
) -> pd.DataFrame:
    """Kickoff notes, CSM check-ins (worried ones when health was low), churn notes, detractors."""
    detractors = _detractors(responses)
    parts = [
        _kickoffs(history),
        _check_ins(rng, history),
        _churn_notes(history.accounts),
        _entries(
            detractors["account_id"].to_numpy(),
            "survey",
            None,
            _describe(history.contacts, detractors),
            detractors["responded_at"].to_numpy(),
        ),
    ]
    timeline = stack(parts)
    timeline = timeline[timeline["created_at"] < np.datetime64(history.calendar.as_of, "s")]
    timeline = timeline.sort_values(["created_at", "account_id"], kind="stable")
    return timeline.assign(id=np.arange(1, len(timeline) + 1))


def _entries(
    account_id: object, kind: object, author_id: object, body: object, created_at: object
) -> pd.DataFrame:
    """Timeline rows; each argument is an array or one value for all rows."""
    frame = {"account_id": account_id, "kind": kind, "author_id": author_id, "body": body}
    return pd.DataFrame(frame | {"created_at": np.asarray(created_at, dtype="datetime64[s]")})


def _kickoffs(history: History) -> pd.DataFrame:
    accounts, profile = history.accounts, history.profile
    champion_row = np.cumsum(profile.contacts) - profile.contacts + 1
    champion = history.contacts["name"].to_numpy()[champion_row]
    body = [f"Kickoff call with {name}: goals agreed, onboarding plan shared." for name in champion]
    when = accounts["created_at"].to_numpy() + np.timedelta64(2, "D")
    return _entries(accounts["id"].to_numpy(), "note", accounts["owner_id"].to_numpy(), body, when)


def _check_ins(rng: np.random.Generator, history: History) -> pd.DataFrame:
    """CSM notes and outreach at random weeks; their tone follows the health of that week."""
    profile, sim = history.profile, history.sim
    first = np.maximum(profile.start_week, BURN_IN_WEEKS)
    weeks = np.maximum(sim.last_week - first + 1, 0)
    counts = rng.poisson(CHECK_IN_RATE[profile.segment] * weeks / 13)
    account = np.repeat(np.arange(len(counts)), counts)
    week = first[account] + (rng.random(len(account)) * weeks[account]).astype(np.int64)
    healthy = np.array(wordlists.HEALTHY_NOTES, dtype=object)
    at_risk = np.array(wordlists.AT_RISK_NOTES, dtype=object)
    pick = rng.integers(0, len(healthy) * len(at_risk), len(account))
    worried = sim.health[account, week] < -0.3
    body = np.where(worried, at_risk[pick % len(at_risk)], healthy[pick % len(healthy)])
    day = (week - BURN_IN_WEEKS) * 7 + rng.integers(0, 5, len(account))
    day = np.maximum(day, profile.start_day[account] + 1)
    minute = day * MINUTES_PER_DAY + rng.integers(9 * 60, 17 * 60, len(account))
    kind = np.where(rng.random(len(account)) < 0.7, "note", "outreach")
    owner = history.accounts["owner_id"].to_numpy()[account]
    return _entries(account + 1, kind, owner, body, history.calendar.times(minute))


def _churn_notes(accounts: pd.DataFrame) -> pd.DataFrame:
    churned = accounts[accounts["churned_at"].notna()]
    body = "Customer churned: " + churned["churn_reason"] + "."
    when = churned["churned_at"].to_numpy().astype("datetime64[s]") + np.timedelta64(10, "h")
    return _entries(churned["id"].to_numpy(), "note", churned["owner_id"].to_numpy(), body, when)

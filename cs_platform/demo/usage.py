"""The demo book's `usage_daily`, synthesised for a block of accounts at a time.

Every day of the 18 months gets a row, as the issue asks and as the scoring features need: they
sum active users over 30-day windows and compare consecutive windows, so keeping only some days
(weekly rows for older months, say) would skew those sums wherever the density changes. That is
about 440 rows per account, some 44 million for 100k accounts: too many for one DataFrame. So
the book keeps only the simulation's weekly levels (a float per account and week) and
`UsagePlan.chunks()` turns them into daily rows for `chunk_accounts` accounts at a time, each
block from its own seeded generator, so the rows are the same however often they are read
(blocks are seeded by position, so `CHUNK_ACCOUNTS` is part of what a seed means). The
loader streams block after block, and memory holds one block (about a million rows).

`feature_counts` (per-feature counts, JSON) is filled for the last `FEATURE_COUNT_DAYS` days
only, as if per-feature tracking had been switched on then; older rows carry the totals. Nothing
scores from it, and formatting JSON for every row would take most of the load time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cs_platform.demo import wordlists
from cs_platform.demo.simulation import BURN_IN_WEEKS, HISTORY_DAYS, Calendar, Profile, Simulation

FEATURE_COUNT_DAYS = 30
CHUNK_ACCOUNTS = 2000
WEEKEND_FACTOR = 0.22  # weekend active users relative to a weekday
_FEATURE_KEYS = tuple(f'"{name}": ' for name in wordlists.FEATURES)


@dataclass(frozen=True)
class UsagePlan:
    """What daily usage is drawn from: per account its days, weekly levels and habits."""

    entropy: int  # seeds block i's generator as [entropy, i]
    calendar: Calendar
    account_ids: np.ndarray
    first_day: np.ndarray  # first day with usage (days from the history start)
    end_day: np.ndarray  # day after the last one (churn day, or the end of the history)
    last_week: np.ndarray  # last simulated week the account was a customer
    weekly_users: np.ndarray  # (accounts, weeks): active users on a typical weekday
    seats: np.ndarray
    events_per_user: np.ndarray
    feature_shares: np.ndarray  # (accounts, features): 0 for features the account never took up
    adopted: np.ndarray  # number of features the account uses
    chunk_accounts: int = CHUNK_ACCOUNTS

    @classmethod
    def from_simulation(
        cls,
        rng: np.random.Generator,
        calendar: Calendar,
        accounts: pd.DataFrame,
        profile: Profile,
        sim: Simulation,
    ) -> UsagePlan:
        """Draw each account's habits (events per user, features taken up) for the simulation."""
        n = len(accounts)
        adopted = np.clip(np.rint(3 + 1.5 * profile.quality + rng.normal(0, 1, n)), 1, 8)
        popularity = np.asarray(wordlists.FEATURE_POPULARITY)
        # The features an account takes up: popular ones first, with some randomness.
        rank = np.argsort(
            np.argsort(-popularity * rng.exponential(1.0, (n, len(popularity))), 1), 1
        )
        weights = np.where(
            rank < adopted[:, None], popularity * rng.lognormal(0, 0.5, rank.shape), 0
        )
        return cls(
            entropy=int(rng.integers(2**63)),
            calendar=calendar,
            account_ids=accounts["id"].to_numpy(),
            first_day=np.maximum(profile.start_day, 0),
            end_day=np.where(sim.churned, sim.churn_day, HISTORY_DAYS),
            last_week=sim.last_week,
            weekly_users=sim.weekly_users,
            seats=profile.seats,
            events_per_user=rng.lognormal(np.log(14), 0.4, n),
            feature_shares=weights / weights.sum(axis=1, keepdims=True),
            adopted=adopted.astype(np.int64),
        )

    def row_count(self) -> int:
        return int(np.maximum(self.end_day - self.first_day, 0).sum())

    def chunks(self) -> Iterator[pd.DataFrame]:
        """usage_daily rows, `chunk_accounts` accounts at a time, in account and day order."""
        for index, low in enumerate(range(0, len(self.account_ids), self.chunk_accounts)):
            yield self._block(index, low, min(low + self.chunk_accounts, len(self.account_ids)))

    def _block(self, index: int, low: int, high: int) -> pd.DataFrame:
        rng = np.random.default_rng([self.entropy, index])
        length = np.maximum(self.end_day[low:high] - self.first_day[low:high], 0)
        account = low + np.repeat(np.arange(high - low), length)
        day = np.repeat(self.first_day[low:high] - np.cumsum(length) + length, length)
        day = day + np.arange(len(account))
        active, events = self._activity(rng, account, day)
        used, counts = self._features(rng, account, day, active, events)
        return pd.DataFrame(
            {
                "account_id": self.account_ids[account],
                "day": self.calendar.dates(day),
                "active_users": active,
                "events": events,
                "features_used": used,
                "feature_counts": counts,
            }
        )

    def _activity(
        self, rng: np.random.Generator, account: np.ndarray, day: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Active users (the week's level, less at weekends, noisy) and their events."""
        week = np.minimum(BURN_IN_WEEKS + day // 7, self.last_week[account])
        weekday = (self.calendar.start.weekday() + day) % 7
        mean = self.weekly_users[account, week] * np.where(weekday < 5, 1.0, WEEKEND_FACTOR)
        noisy = mean * rng.lognormal(0, 0.12, len(day))
        active = np.minimum(rng.poisson(noisy), self.seats[account])
        return active, rng.poisson(active * self.events_per_user[account])

    def _features(
        self,
        rng: np.random.Generator,
        account: np.ndarray,
        day: np.ndarray,
        active: np.ndarray,
        events: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distinct features used, and per-feature counts (JSON) on the recent days."""
        share = np.clip(0.35 + 0.12 * np.log1p(active), 0, 1)
        used = np.where(events > 0, np.maximum(rng.binomial(self.adopted[account], share), 1), 0)
        counts = np.full(len(day), None, dtype=object)
        recent = (day >= HISTORY_DAYS - FEATURE_COUNT_DAYS) & (events > 0)
        split = rng.multinomial(events[recent], self.feature_shares[account[recent]])
        used[recent] = (split > 0).sum(axis=1)
        counts[recent] = [_feature_json(row) for row in split.tolist()]
        return used, counts


def _feature_json(counts: list[int]) -> str:
    """{"dashboards": 12, ...} for the features used (faster than json.dumps for this shape)."""
    pairs = ", ".join(
        key + str(count) for key, count in zip(_FEATURE_KEYS, counts, strict=True) if count
    )
    return "{" + pairs + "}"

"""Daily usage from a CSV file: validated column-wise with pandas, matched set-wise."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import MAX_INT, Account
from integrations.matching import MatchKeys, match_accounts, normalise_domain
from integrations.usage import SOURCE, write_usage

COUNTS = ("active_users", "events", "features_used")


@dataclass
class ImportReport:
    imported: int = 0
    problems: list[str] = field(default_factory=list)


def import_usage_csv(path: Path) -> ImportReport:
    """Upsert UsageDaily from `path`; rows with bad values or no matching account are reported."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"day", "active_users", "events"} - set(frame.columns)
    if missing or not {"domain", "account_id"} & set(frame.columns):
        need = ", ".join(sorted(missing)) or "domain or account_id"
        return ImportReport(problems=[f"{path.name}: missing column(s): {need}"])
    frame["line"] = frame.index + 2  # the header is line 1
    frame = check_values(frame)
    frame["account"] = account_ids(frame)
    report = ImportReport()
    bad = frame["problem"].ne("") | frame["account"].isna()
    for row in frame[bad].itertuples():
        report.problems.append(f"line {row.line}: {row.problem or 'no account matches'}")
    good = frame[~bad]
    write_usage(
        [
            {"account_id": int(row.account), "day": row.day_value, "active_users": row.active_users,
             "events": row.events, "features_used": row.features_used, "feature_counts": None}
            for row in good.itertuples()
        ]
    )  # fmt: skip
    report.imported = len(good)
    return report


def check_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Parse day and counts; rows with a bad value get a `problem`."""
    frame["problem"] = ""
    days = pd.to_datetime(frame["day"], format="%Y-%m-%d", errors="coerce")
    in_range = days.between(pd.Timestamp("2000-01-01"), pd.Timestamp(dt.date.today()))
    frame.loc[~in_range, "problem"] = "day is not a date (YYYY-MM-DD) between 2000 and today"
    frame["day_value"] = days.dt.date
    if "features_used" not in frame.columns:
        frame["features_used"] = "0"
    for column in COUNTS:
        values = whole_numbers(frame[column], minimum=0)
        frame.loc[values.isna() & frame["problem"].eq(""), "problem"] = (
            f"{column} is not a whole number between 0 and {MAX_INT}"
        )
        frame[column] = values.fillna(0).astype("int64")
    return frame


def whole_numbers(texts: pd.Series, minimum: int) -> pd.Series:
    """The cells that are whole numbers from `minimum` to MAX_INT (what an integer column
    holds), as floats; NaN for every other cell, infinities and 1e20 included."""
    values = pd.to_numeric(texts, errors="coerce").astype("float64")
    return values.where(values.between(minimum, MAX_INT) & (values % 1 == 0))


def account_ids(frame: pd.DataFrame) -> pd.Series:
    """Account id per row: the account_id column when it names an account, else the domain."""
    result = pd.Series(None, index=frame.index, dtype=object)
    if "account_id" in frame.columns:
        ids = whole_numbers(frame["account_id"], minimum=1)
        wanted = [int(i) for i in ids.dropna().unique()]
        known = set(db.session.scalars(select(Account.id).where(Account.id.in_(wanted))))
        result = ids.where(ids.isin(known)).astype(object)
        result = result.where(result.notna(), None)
    if "domain" in frame.columns:
        domains = frame["domain"].map(normalise_domain)
        unique = sorted(domains.dropna().unique())
        found = match_accounts(SOURCE, [MatchKeys(None, (domain,)) for domain in unique])
        result = result.where(result.notna(), domains.map(dict(zip(unique, found, strict=True))))
    return result

"""Daily usage from a CSV file: decoded and parsed with line numbers, validated column-wise with
pandas, matched set-wise."""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.models import MAX_INT, Account
from integrations.matching import MatchKeys, match_accounts, normalise_domain
from integrations.models import CSV_USAGE
from integrations.usage import SOURCE, write_usage

COLUMNS = ("domain", "account_id", "day", "active_users", "events", "features_used")
COUNTS = ("active_users", "events", "features_used")
# UTF-32 first: its little-endian mark starts with UTF-16's.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
HOW_TO_FIX = "save the file as UTF-8, or name its encoding, e.g. --encoding cp1252"


class UnreadableFileError(Exception):
    """The file as a whole cannot be read as usage rows; the message says why."""


@dataclass
class ImportReport:
    """What an import did: rows written, and a line for each row (or the file) not imported."""

    imported: int = 0
    problems: list[str] = field(default_factory=list)
    rows: int = 0  # data rows read: 0 for an empty file, a header alone, or a refused file


def import_usage_csv(path: Path, encoding: str | None = None) -> ImportReport:
    """Upsert UsageDaily's "csv" rows from `path` (other sources' rows stay); bad, unmatched and
    repeated rows are reported by line.

    `encoding` names the file's encoding (LookupError if Python does not know it); without it a
    byte order mark decides, else the file must be UTF-8.
    """
    try:
        frame = read_rows(path, encoding)
    except UnreadableFileError as refusal:
        return ImportReport(problems=[f"{path.name}: {refusal}"])
    if frame.empty:
        return ImportReport()
    missing = {"day", "active_users", "events"} - set(frame.columns)
    if missing or not {"domain", "account_id"} & set(frame.columns):
        need = ", ".join(sorted(missing)) or "domain or account_id"
        return ImportReport(problems=[f"{path.name}: missing column(s): {need}"])
    frame = check_values(frame)
    frame = match_rows(frame)
    frame = mark_repeats(frame)
    bad = frame["problem"].ne("")
    good = frame[~bad]
    write_usage(
        [
            {"account_id": int(row.account), "day": row.day_value, "active_users": row.active_users,
             "events": row.events, "features_used": row.features_used, "feature_counts": None}
            for row in good.itertuples()
        ],
        CSV_USAGE,
    )  # fmt: skip
    problems = [f"line {row.line}: {row.problem}" for row in frame[bad].itertuples()]
    return ImportReport(imported=len(good), problems=problems, rows=len(frame))


def read_rows(path: Path, encoding: str | None) -> pd.DataFrame:
    """The file's data rows as text in our columns, with `line` (where each row starts) and
    `problem` (a row of the wrong width or with a NUL character). Raises UnreadableFileError."""
    records = list(csv_records(decode(path.read_bytes(), encoding)))
    if not records:
        return pd.DataFrame()
    (_, header), rows = records[0], records[1:]
    check_header(header)
    width = len(header)
    frame = pd.DataFrame([(cells + [""] * width)[:width] for _, cells in rows], columns=header)
    problem = pd.Series("", index=frame.index)
    has_nul = frame.apply(lambda column: column.str.contains("\0", regex=False)).any(axis=1)
    problem[has_nul] = "a cell contains a NUL character"
    widths = pd.Series([len(cells) for _, cells in rows], index=frame.index)
    problem[widths.ne(width)] = "has " + widths.astype(str) + f" fields, the header has {width}"
    frame = frame[[column for column in COLUMNS if column in header]].copy()
    frame["line"] = [line for line, _ in rows]
    frame["problem"] = problem
    return frame


def decode(raw: bytes, encoding: str | None) -> str:
    """The file's text: in `encoding` when named, else as its byte order mark says, else UTF-8."""
    name = encoding or next((name for bom, name in BOMS if raw.startswith(bom)), "utf-8")
    try:
        return raw.decode(name).removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = raw[: error.start].decode(name, errors="replace").count("\n") + 1
        raise UnreadableFileError(
            f"not valid {encoding or name.upper().removesuffix('-SIG')} at line {line} "
            f"(byte 0x{raw[error.start]:02X}): {HOW_TO_FIX}"
        ) from error


def csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line where it starts, cells) for each CSV record that is not a blank line."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for cells in reader:
            if cells:
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as error:
        reason = "a quote opened there is never closed" if "end of data" in str(error) else error
        raise UnreadableFileError(f"line {start} is not valid CSV: {reason}") from error


def check_header(header: list[str]) -> None:
    """Refuse a header that names one of our columns twice, or holds NUL characters."""
    if any("\0" in name for name in header):
        raise UnreadableFileError(f"the header contains NUL characters; is it UTF-16? {HOW_TO_FIX}")
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated := [name for name in repeated if name in COLUMNS]:
        raise UnreadableFileError(f"column(s) named more than once: {', '.join(repeated)}")


def check_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Parse day and counts; rows with a bad value get a `problem` (unless they have one)."""
    days = pd.to_datetime(frame["day"], format="%Y-%m-%d", errors="coerce")
    in_range = days.between(pd.Timestamp("2000-01-01"), pd.Timestamp(clock.today()))
    frame.loc[~in_range & frame["problem"].eq(""), "problem"] = (
        "day is not a date (YYYY-MM-DD) between 2000 and today"
    )
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


def match_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """`account` for the rows without a problem so far; those that match none get one."""
    ok = frame["problem"].eq("")
    frame["account"] = account_ids(frame[ok]).reindex(frame.index)
    frame.loc[ok & frame["account"].isna(), "problem"] = "no account matches"
    return frame


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


def mark_repeats(frame: pd.DataFrame) -> pd.DataFrame:
    """A row whose (account, day) an earlier good row has gets a `problem` naming that line."""
    good = frame[frame["problem"].eq("")]
    account = good["account"].astype("int64")
    first_line = good.groupby([account, good["day_value"]])["line"].transform("first")
    repeats = first_line.ne(good["line"])
    frame.loc[repeats[repeats].index, "problem"] = (
        "account " + account[repeats].astype(str) + " on " + good["day_value"][repeats].astype(str)
        + " repeats line " + first_line[repeats].astype(str)
        + "; line " + first_line[repeats].astype(str) + " was imported"
    )  # fmt: skip
    return frame

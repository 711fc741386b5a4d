"""Time the demo book's generation and its bulk load on PostgreSQL, for one or more sizes.

    python bench/demo_load.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test --accounts 1000 100000

Creates a scratch database (`--scratch`, default demo_bench) on the server of the given URL,
creates the schema with `db.create_all()`, and per size clears the previous book, generates a
new one and loads it in one transaction, as `flask demo` does. usage_daily is synthesised block
by block while it is loaded; the time spent synthesising is counted as generation, not load.
The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cs_platform import create_app
from cs_platform.demo.generator import generate_book
from cs_platform.demo.loader import load_book
from cs_platform.demo.service import clear_book, demo_csm_ids
from cs_platform.demo.survey_program import demo_survey_ids
from cs_platform.demo.usage import UsagePlan
from cs_platform.extensions import db


@dataclass
class Result:
    accounts: int
    rows: dict[str, int]
    generate_s: float
    load_s: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class TimedUsage:
    """The book's usage plan, keeping apart the time spent synthesising its blocks."""

    def __init__(self, plan: UsagePlan) -> None:
        self.plan, self.seconds = plan, 0.0

    def row_count(self) -> int:
        return self.plan.row_count()

    def chunks(self) -> Iterator[pd.DataFrame]:
        blocks = self.plan.chunks()
        while True:
            started = time.perf_counter()
            block = next(blocks, None)
            self.seconds += time.perf_counter() - started
            if block is None:
                return
            yield block


def run(accounts: int, seed: int) -> Result:
    """Clear, generate and load one book; commit."""
    clear_book(db.session.connection())
    owners, surveys = demo_csm_ids(), demo_survey_ids()
    db.session.commit()
    started = time.perf_counter()
    book = generate_book(accounts, seed, owner_ids=owners, survey_ids=surveys)
    generated = time.perf_counter()
    usage = book.usage = TimedUsage(book.usage)
    rows = load_book(db.session.connection(), book)
    db.session.commit()
    loaded = time.perf_counter()
    return Result(
        accounts,
        rows,
        generate_s=generated - started + usage.seconds,
        load_s=loaded - generated - usage.seconds,
    )


def report(results: list[Result]) -> str:
    """The figures as a small table: one column per size."""
    lines = [f"{'':22}" + "".join(f"{r.accounts:>14,}" for r in results)]
    for table in results[0].rows:
        lines.append(f"{table:22}" + "".join(f"{r.rows[table]:>14,}" for r in results))
    for label, value in (
        ("rows, all tables", lambda r: f"{r.total_rows:,}"),
        ("generate s", lambda r: f"{r.generate_s:.1f}"),
        ("load s", lambda r: f"{r.load_s:.1f}"),
        ("load rows/s", lambda r: f"{r.total_rows / r.load_s:,.0f}"),
        ("total s", lambda r: f"{r.generate_s + r.load_s:.1f}"),
    ):
        lines.append(f"{label:22}" + "".join(f"{value(r):>14}" for r in results))
    return "\n".join(lines)


def admin_execute(server: URL, statement: str) -> None:
    engine = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="any database on the server")
    parser.add_argument("--accounts", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scratch", default="demo_bench", help="name of the scratch database")
    args = parser.parse_args()
    server = make_url(args.database_url)
    scratch = server.set(database=args.scratch)
    admin_execute(server, f'DROP DATABASE IF EXISTS "{args.scratch}" WITH (FORCE)')
    admin_execute(server, f'CREATE DATABASE "{args.scratch}"')
    try:
        config = {
            "SQLALCHEMY_DATABASE_URI": scratch.render_as_string(hide_password=False),
            "SCHEDULER_ENABLED": False,
        }
        with tempfile.TemporaryDirectory() as instance:
            app = create_app(config, instance_path=instance)
            with app.app_context():
                db.create_all()
                results = [run(accounts, args.seed) for accounts in args.accounts]
                db.session.remove()
                db.engine.dispose()
    finally:
        admin_execute(server, f'DROP DATABASE IF EXISTS "{args.scratch}" WITH (FORCE)')
    print(report(results))


if __name__ == "__main__":
    main()

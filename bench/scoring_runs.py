"""Nightly scoring and training on PostgreSQL with the demo book, each night beside its floor.

For each size (default 10k and 100k accounts) a scratch PostgreSQL database is created, the demo
book seeded, and then, each phase in its own process so that its peak memory is its own:
- 10k: training of both models on 12 monthly snapshots (time, peak memory);
- with --backtest, the 12-month backtest on the first size;
- every size, with the models trained on 10k, two nights, each as the floor and then the
  product (bench/scoring_floor.py; the floor's writes are rolled back and vacuumed away):
  - first night: 30 days before the demo's last day, no score history;
  - steady night: the demo's last day, with 30 days of history: a real night the day before
    (risk tasks raised), and the days between it and the first night filled in SQL with scores
    drawn between those two nights' (plus noise, banded like the model's), so that change
    detection, band hysteresis, health-drop flags and events have work to do.
  Printed per night: seconds of floor and product, their ratio, seconds per 1,000 accounts and
  the product's peak memory (ru_maxrss of its process).
The databases are dropped at the end, also on failure.

    [BENCH_PROFILE=1] .venv/bin/python bench/scoring_runs.py [--sizes 10000,100000] [--backtest]
        [--usage-days N] [--prefix bench_scoring] [--floor-up-to N] [--first-night-only]

--usage-days writes only the last N days of usage_daily while seeding (the scale run: 1M
accounts do not fit 18 months of daily usage; a night reads 90 days back at most).
--floor-up-to N times the floor only for sizes up to N, and --first-night-only skips the steady
night: a 1M run then takes about 45 minutes instead of two hours.
BENCH_DATABASE_URL names the server (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pandas as pd
from api_common import ROOT, scratch_database
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.pool import NullPool

FIRST_NIGHT_BACK = 30  # days before the demo's last day: the first night, and the history's start
HISTORY_SQL = """
INSERT INTO health_scores (account_id, scored_on, score, band, method, churn_probability,
                           model_version_id, drivers, context, changes, updated_at)
SELECT a.account_id, g.day::date, s.score,
       CASE WHEN s.score >= :green_at THEN 'green' WHEN s.score < :red_below THEN 'red'
            ELSE 'yellow' END,
       a.method, a.churn_probability, a.model_version_id, a.drivers, a.context, '{}', g.day
FROM health_scores a
JOIN health_scores b ON b.account_id = a.account_id AND b.scored_on = :last
CROSS JOIN generate_series(CAST(:first AS date) + 1, CAST(:last AS date) - 1, interval '1 day')
  AS g(day)
CROSS JOIN LATERAL (
  SELECT greatest(0, least(100, round(CAST(
    a.score + (b.score - a.score) * (g.day::date - CAST(:first AS date)) / (:last - :first)
    + 6 * (random() - 0.5) AS numeric), 1)))::float8 AS score
) AS s
WHERE a.scored_on = :first
"""


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def app_for(url: str):
    from cs_platform import create_app

    instance = tempfile.mkdtemp(prefix="bench-scoring-")
    return create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False, "LOG_LEVEL": "WARNING"},
        instance_path=instance,
    )


def demo_day() -> dt.date:
    from cs_platform.demo.models import DemoRun
    from cs_platform.extensions import db

    return db.session.scalar(select(DemoRun.as_of).order_by(DemoRun.id.desc()))


def phase_seed(url: str, accounts: int, usage_days: int) -> dict:
    from cs_platform.demo.service import seed_demo
    from cs_platform.extensions import db

    with app_for(url).app_context():
        db.create_all()
        started = time.perf_counter()
        with usage_kept(usage_days):
            seed_demo(accounts=accounts, seed=7, force=True)
        return {"seed_seconds": round(time.perf_counter() - started, 1), "seed_peak_mb": peak_mb()}


@contextmanager
def usage_kept(days: int) -> Iterator[None]:
    """While seeding, write only the usage of the last `days` days before the demo's day (0:
    all), so that a 1M-account book is not loaded with 18 months of daily usage to delete."""
    from cs_platform import clock
    from cs_platform.demo import loader

    if not days:
        yield
        return
    write = loader._write_usage  # the bench trims the demo's usage as it goes
    cut = pd.Timestamp(clock.today() - dt.timedelta(days=days))
    loader._write_usage = lambda writer, chunk: write(writer, chunk[chunk["day"] >= cut])
    try:
        yield
    finally:
        loader._write_usage = write


def phase_train(url: str) -> dict:
    from scoring.runs import train_and_commit

    with app_for(url).app_context():
        started = time.perf_counter()
        summary = train_and_commit(as_of=demo_day(), months=12)
        seconds = time.perf_counter() - started
        return {
            "train_seconds": round(seconds, 1),
            "train_peak_mb": round(peak_mb()),
            "health": summary.versions["health"].metrics,
            "health_learner": summary.versions["health"].parameters.get("learner"),
            "survival": summary.versions["survival"].metrics,
            "survival_kind": summary.versions["survival"].parameters.get("kind"),
        }


def phase_score(url: str, back: int, raise_flags: bool) -> dict:
    """The product's night `back` days before the demo's last day, committed."""
    from cs_platform.extensions import db
    from scoring.runs import score_accounts

    with app_for(url).app_context():
        day = demo_day() - dt.timedelta(days=back)
        profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
        started = time.perf_counter()
        if profile:
            profile.enable()
        summary = score_accounts(day, raise_flags=raise_flags)
        db.session.commit()
        seconds = time.perf_counter() - started
        if profile:  # where the time goes (the profiler itself slows Python loops down)
            profile.disable()
            stats = pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative")
            stats.print_stats(r"(scoring|cs_platform)[/\\]", 40)
        return {
            "seconds": round(seconds, 1),
            "peak_mb": round(peak_mb()),
            "accounts": summary.accounts,
            "method": summary.method,
            "risk_tasks": summary.flags,
        }


def phase_floor(url: str, back: int) -> dict:
    """The floor's night `back` days before the demo's last day, rolled back."""
    from scoring_floor import floor_night

    from cs_platform.extensions import db

    with app_for(url).app_context():
        day = demo_day() - dt.timedelta(days=back)
        started = time.perf_counter()
        accounts = floor_night(day)
        db.session.flush()
        seconds = time.perf_counter() - started
        db.session.rollback()
        return {"seconds": round(seconds, 1), "peak_mb": round(peak_mb()), "accounts": accounts}


def phase_history(url: str) -> dict:
    """Fill the days between the first night and the night before the last day in SQL."""
    from cs_platform.extensions import db
    from scoring.services import model_bands

    with app_for(url).app_context():
        last = demo_day() - dt.timedelta(days=1)
        first = last - dt.timedelta(days=FIRST_NIGHT_BACK - 1)
        started = time.perf_counter()
        rows = db.session.execute(
            text(HISTORY_SQL), {"first": first, "last": last, **model_bands()}
        ).rowcount
        db.session.commit()
        return {"history_rows": rows, "history_seconds": round(time.perf_counter() - started, 1)}


def phase_backtest(url: str) -> dict:
    from scoring.backtest import backtest

    with app_for(url).app_context():
        started = time.perf_counter()
        report = backtest(demo_day(), months=12)
        return {"backtest_seconds": round(time.perf_counter() - started, 1), "backtest": report}


def copy_models(source: str, target: str) -> None:
    """Give the target database the models trained on the source one."""
    from scoring.models import ModelVersion

    table = ModelVersion.__table__
    with create_engine(source, poolclass=NullPool).connect() as src:
        rows = [dict(row._mapping) for row in src.execute(select(table))]
    with create_engine(target, poolclass=NullPool).begin() as dst:
        dst.execute(insert(table), rows)


def vacuum(url: str) -> None:
    """What autovacuum would have done by the next night: the floor's rolled-back rows gone,
    statistics current."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def run_phase(*args: str) -> dict:
    command = [sys.executable, __file__, "--phase", *args]
    # stderr (logs, the scoring profile) passes through; stdout carries the figures.
    result = subprocess.run(  # noqa: S603 - our own script with fixed arguments
        command, stdout=subprocess.PIPE, text=True, check=False, cwd=ROOT
    )
    if result.returncode:
        raise SystemExit(f"phase {args[0]} failed (see its output above)")
    return json.loads(result.stdout.strip().splitlines()[-1])


def night(url: str, back: int, with_floor: bool = True) -> dict:
    """Floor (unless not `with_floor`), then product, of the night `back` days before the
    demo's last day."""
    figures = {}
    if with_floor:
        vacuum(url)
        floor = run_phase("floor", url, str(back))
        figures = {"floor_seconds": floor["seconds"], "floor_peak_mb": floor["peak_mb"]}
    vacuum(url)
    product = run_phase("score", url, str(back), "1")
    if with_floor:
        figures["ratio"] = round(product["seconds"] / max(figures["floor_seconds"], 0.1), 2)
    return {
        "load": load_average(),
        "product_seconds": product["seconds"],
        "product_s_per_1000": round(product["seconds"] / product["accounts"] * 1000, 3),
        "product_peak_mb": product["peak_mb"],
        "accounts": product["accounts"],
        "risk_tasks": product["risk_tasks"],
        "method": product["method"],
        **figures,
    }


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure_size(url: str, size: int, options: argparse.Namespace, trained_on: str | None) -> dict:
    """Seed, train (or copy the first size's models) and time the nights of one size."""
    figures: dict = {"accounts": size, **run_phase("seed", url, str(size), str(options.usage_days))}
    if trained_on is None:
        figures |= run_phase("train", url)
    else:
        copy_models(trained_on, url)
    with_floor = size <= options.floor_up_to
    figures["first_night"] = night(url, FIRST_NIGHT_BACK, with_floor)
    if options.first_night_only:
        return figures
    run_phase("score", url, "1", "1")  # the night before: real scores, bands and tasks
    figures |= run_phase("history", url)
    figures["steady_night"] = night(url, 0, with_floor)
    return figures


def orchestrate(sizes: list[int], options: argparse.Namespace) -> None:
    trained_on: str | None = None
    with ExitStack() as databases:
        for size in sizes:
            url = databases.enter_context(scratch_database(options.prefix))
            figures = measure_size(url, size, options, trained_on)
            if options.backtest and trained_on is None:
                figures |= run_phase("backtest", url)
            trained_on = trained_on or url
            print(json.dumps(figures, indent=2), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--usage-days", type=int, default=0, help="Keep this much usage (0: all).")
    parser.add_argument("--prefix", default="bench_scoring", help="Scratch database names.")
    parser.add_argument("--backtest", action="store_true", help="Also backtest the first size.")
    parser.add_argument(
        "--floor-up-to", type=int, default=10**9, help="Time the floor only up to this size."
    )
    parser.add_argument(
        "--first-night-only", action="store_true", help="Skip the steady night (scale runs)."
    )
    parser.add_argument("--phase", nargs="+")
    options = parser.parse_args()
    if options.phase:
        name, url, *rest = options.phase
        phases = {
            "seed": lambda: phase_seed(url, int(rest[0]), int(rest[1])),
            "train": lambda: phase_train(url),
            "floor": lambda: phase_floor(url, int(rest[0])),
            "score": lambda: phase_score(url, int(rest[0]), rest[1] == "1"),
            "history": lambda: phase_history(url),
            "backtest": lambda: phase_backtest(url),
        }
        figures = json.dumps(phases[name]())
        # Each phase's figures on stderr as it ends, so a run stopped midway still shows them.
        print(f"phase {name} {' '.join(rest)}: {figures}", file=sys.stderr, flush=True)
        print(figures)
        return
    sizes = [int(s) for s in options.sizes.split(",")]
    orchestrate(sizes, options)


if __name__ == "__main__":
    main()

"""Nightly scoring and training on PostgreSQL with the demo book.

For each size (default 10k and 100k accounts) a scratch PostgreSQL database is created, the demo
book seeded, and then, each phase in its own process so that its peak memory is its own:
- 10k: training of both models on 12 monthly snapshots (time, peak memory);
- with --backtest, the 12-month backtest on the first size;
- every size: one full nightly scoring run (features, health model, survival model, history
  writes, risk flags) with the models trained on 10k (time, peak memory, rows written).
The databases are dropped at the end.

    [BENCH_PROFILE=1] .venv/bin/python bench/scoring_runs.py [--sizes 10000,100000] [--backtest]
        [--server postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def app_for(url: str):
    from cs_platform import create_app

    instance = tempfile.mkdtemp(prefix="bench-scoring-")
    return create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False, "LOG_LEVEL": "WARNING"},
        instance_path=instance,
    )


def demo_day():
    from cs_platform.demo.models import DemoRun
    from cs_platform.extensions import db

    return db.session.scalar(select(DemoRun.as_of).order_by(DemoRun.id.desc()))


def phase_seed(url: str, accounts: int) -> dict:
    from cs_platform.demo.service import seed_demo
    from cs_platform.extensions import db

    with app_for(url).app_context():
        db.create_all()
        started = time.perf_counter()
        seed_demo(accounts=accounts, seed=7, force=True)
        return {"seed_seconds": round(time.perf_counter() - started, 1)}


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
            "survival": summary.versions["survival"].metrics,
            "survival_kind": summary.versions["survival"].parameters.get("kind"),
        }


def phase_score(url: str) -> dict:
    from cs_platform.extensions import db
    from scoring.runs import score_accounts

    with app_for(url).app_context():
        day = demo_day()
        profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
        started = time.perf_counter()
        if profile:
            profile.enable()
        summary = score_accounts(day)
        db.session.commit()
        seconds = time.perf_counter() - started
        if profile:  # where the time goes (the profiler itself slows Python loops down)
            profile.disable()
            stats = pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative")
            stats.print_stats(r"scoring[/\\](features|runs|health_model|survival|risk_flags)")
        return {
            "score_seconds": round(seconds, 1),
            "score_peak_mb": round(peak_mb()),
            "accounts_scored": summary.accounts,
            "method": summary.method,
            "risk_tasks": summary.flags,
        }


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


def run_phase(*args: str) -> dict:
    command = [sys.executable, __file__, "--phase", *args]
    # stderr (logs, the scoring profile) passes through; stdout carries the figures.
    result = subprocess.run(  # noqa: S603 - our own script with fixed arguments
        command, stdout=subprocess.PIPE, text=True, check=False, cwd=ROOT
    )
    if result.returncode:
        raise SystemExit(f"phase {args[0]} failed (see its output above)")
    return json.loads(result.stdout.strip().splitlines()[-1])


def scratch_database(server: str) -> str:
    name = f"bench_scoring_{uuid.uuid4().hex[:8]}"
    with create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool).connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_database(server: str, url: str) -> None:
    name = make_url(url).database
    with create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool).connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def orchestrate(sizes: list[int], server: str, with_backtest: bool) -> None:
    created: list[str] = []
    trained_on: str | None = None
    try:
        for size in sizes:
            url = scratch_database(server)
            created.append(url)
            figures = {"accounts": size, **run_phase("seed", url, str(size))}
            if trained_on is None:
                figures |= run_phase("train", url)
                if with_backtest:
                    figures |= run_phase("backtest", url)
                trained_on = url
            else:
                copy_models(trained_on, url)
            figures |= run_phase("score", url)
            print(json.dumps(figures, indent=2), flush=True)
    finally:
        for url in created:
            drop_database(server, url)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--backtest", action="store_true", help="Also backtest the first size.")
    parser.add_argument("--phase", nargs="+")
    options = parser.parse_args()
    if options.phase:
        name, url, *rest = options.phase
        phases = {
            "seed": lambda: phase_seed(url, int(rest[0])),
            "train": lambda: phase_train(url),
            "score": lambda: phase_score(url),
            "backtest": lambda: phase_backtest(url),
        }
        print(json.dumps(phases[name]()))
        return
    orchestrate([int(s) for s in options.sizes.split(",")], options.server, options.backtest)


if __name__ == "__main__":
    main()

"""`flask --app wsgi scoring train|score|evaluate|backtest`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from cs_platform import clock
from cs_platform.extensions import db
from cs_platform.progress import Progress

# The model libraries (XGBoost, lifelines) load inside each command, so that registering the
# group keeps every other `flask` command and the web app quick to start.

AS_OF = click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Day to act as today (YYYY-MM-DD); default today.",
)


def _day(value: dt.datetime | None) -> dt.date:
    return value.date() if value else clock.today()


@click.group("scoring")
def scoring_group() -> None:
    """Health scores and churn risk: train, score, evaluate, backtest."""


@scoring_group.command("train")
@AS_OF
@click.option("--months", type=click.IntRange(2, 60), default=None, help="Monthly snapshots.")
@click.option("--rounds", type=click.IntRange(1, 5000), default=None, help="Boosting rounds.")
def train_command(as_of: dt.datetime | None, months: int | None, rounds: int | None) -> None:
    """Train the health and survival models; activate them if not worse than the active ones."""
    from scoring.runs import train_and_commit
    from scoring.training import NotEnoughHistoryError

    day = _day(as_of)
    try:
        with Progress(1).step(f"training the models as of {day}") as step:
            summary = train_and_commit(as_of=day, months=months, rounds=rounds)
            step.detail = f"{len(summary.versions)} models"
    except NotEnoughHistoryError as error:
        raise click.ClickException(str(error)) from error
    click.echo(summary.describe())


@scoring_group.command("score")
@AS_OF
def score_command(as_of: dt.datetime | None) -> None:
    """Score every live account for a day (re-running a day replaces its rows)."""
    from scoring.runs import score_accounts

    day = _day(as_of)
    with Progress(1).step(f"scoring {day}") as step:
        summary = score_accounts(day)
        db.session.commit()
        step.detail = f"{summary.accounts:,} accounts"
    click.echo(summary.describe())


@scoring_group.command("evaluate")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--duration-col", required=True, help="Column with the tenure.")
@click.option("--event-col", required=True, help="Column saying churned (1/0, yes/no, true/false).")
@click.option("--id-col", default=None, help="Column with the customer id, if the file has one.")
@click.option(
    "--unit",
    type=click.Choice(["months", "days", "weeks", "years"]),
    default="months",
    show_default=True,
    help="Unit of the duration column.",
)
@click.option(
    "--landmark",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Classifiers: customers still there at this month.",
)
@click.option(
    "--horizon",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Classifiers: churned within this many months after the landmark "
    "(default: the median time to churn).",
)
@click.option("--drop", "drop_cols", multiple=True, help="Column to leave out; repeat for several.")
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option(
    "--rounds", default=None, type=click.IntRange(1, 5000), help="Cap on boosting rounds."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as one HTML page with pictures.",
)
def evaluate_command(
    *,
    csv_path: Path,
    drop_cols: tuple[str, ...],
    as_json: bool,
    html_path: Path | None,
    **options: Any,  # evaluate()'s keywords, as click parsed them
) -> None:
    """Evaluate the models on a CSV of customer history (held-out split plus k-fold)."""
    import pandas as pd

    from scoring.evaluate import EvaluateError, evaluate, format_report

    try:
        frame = pd.read_csv(csv_path)
    except (ValueError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{csv_path} is not a readable CSV: {error}") from error
    missing = [c for c in drop_cols if c not in frame.columns]
    if missing:
        raise click.ClickException(f"column {missing[0]!r} to drop not found")
    try:
        with Progress(1).step(f"evaluating {csv_path.name}") as step:
            report = evaluate(frame.drop(columns=list(drop_cols)), **options)
            step.detail = f"{len(frame):,} customers, {options['folds']} folds"
    except EvaluateError as error:
        raise click.ClickException(str(error)) from error
    if html_path:
        from scoring.report import render_html

        html_path.write_text(render_html(report), encoding="utf-8")
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))


@scoring_group.command("backtest")
@AS_OF
@click.option("--months", type=click.IntRange(1, 36), default=12, show_default=True)
@click.option("--rounds", default=150, show_default=True, type=click.IntRange(1, 5000))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def backtest_command(as_of: dt.datetime | None, months: int, rounds: int, as_json: bool) -> None:
    """Replay the last months and compare the learned model with the scorecard."""
    from scoring.backtest import backtest, format_backtest

    report = backtest(_day(as_of), months=months, rounds=rounds)
    click.echo(json.dumps(report, indent=2) if as_json else format_backtest(report))

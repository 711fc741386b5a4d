"""Command-line tools: `flask --app wsgi <command>`. Errors end in one readable line, exit 1."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from cs_platform import clock
from cs_platform.audit import record_audit
from cs_platform.auth.services import API_SCOPES, AuthError, create_api_key, create_user
from cs_platform.extensions import db
from cs_platform.models import User
from cs_platform.progress import Progress

DEMO_LOGIN_EMAIL = "demo@cs-platform.localhost"


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role",
    type=click.Choice(["admin", "team_lead", "csm", "viewer"]),
    default="csm",
    show_default=True,
)
@click.password_option(
    help="At least 10 characters, hard to guess, not your name; prompted for when left out."
)
def create_user_command(email: str, name: str, role: str, password: str) -> None:
    """Create a user who can sign in to the CSM pages."""
    try:
        user = create_user(email, name, role, password)
    except AuthError as error:
        raise click.ClickException(str(error)) from error
    record_audit("user.created", user.email, {"role": user.role, "via": "cli"})
    db.session.commit()
    click.echo(f"created {user.role} {user.email}")


@click.command("create-api-key")
@click.option("--name", required=True, help="What the key is for, e.g. 'Snowflake sync'.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(API_SCOPES),
    help="Repeat for several scopes.",
)
def create_api_key_command(name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key and print it once; only its hash is stored."""
    try:
        key, plaintext = create_api_key(name, list(scopes))
    except AuthError as error:
        raise click.ClickException(str(error)) from error
    record_audit(
        "api_key.created", key.prefix, {"name": key.name, "scopes": key.scopes, "via": "cli"}
    )
    db.session.commit()
    granted = ", ".join(key.scopes)
    click.echo(f"API key {key.name!r} (scopes: {granted}). Copy it now, it is not shown again:")
    click.echo(plaintext)


@click.command("demo")
# 700 accounts: enough churn (~130 events) for the models to learn the hidden hazard, and the
# whole `make run` set-up (migrate, load, train, score) stays well under a minute on 2 cores.
@click.option("--accounts", default=700, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The book's today (YYYY-MM-DD); default today. Same seed and day: same book.",
)
@click.option(
    "--force", is_flag=True, help="Replace existing data, even data that is not demo data."
)
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has accounts.")
@click.option(
    "--no-scoring", is_flag=True, help="Load the book only: no playbooks, training or scores."
)
def demo_command(
    *, accounts: int, seed: int, as_of: dt.datetime | None, force: bool, if_empty: bool,
    no_scoring: bool,
) -> None:  # fmt: skip
    """Fill the database with a realistic demo book of business, scored, and a demo login."""
    from cs_platform.demo.service import (
        DemoRefused,
        database_is_empty,
        demo_days,
        hand_accounts_to,
        score_demo,
        seed_demo,
    )

    if if_empty and not database_is_empty():
        click.echo("database already has accounts; demo data left as it is")
        return
    day = as_of.date() if as_of else clock.today()
    progress = Progress(1 if no_scoring else 3 + len(demo_days(day)))  # load, train, days, rules
    try:
        with progress.step("loading the demo book") as step:
            summary = seed_demo(accounts=accounts, seed=seed, force=force, as_of=day)
            step.detail = f"{summary.accounts:,} accounts, {summary.churned:,} churned"
    except DemoRefused as error:
        raise click.ClickException(str(error)) from error
    click.echo(summary.describe())
    password = ensure_demo_login()
    demo_user = demo_login_user()
    assert demo_user is not None  # ensure_demo_login made sure of it
    moved = hand_accounts_to(demo_user)
    click.echo(f"the demo login owns {moved} accounts")
    if not no_scoring:
        click.echo(score_demo(day, progress).describe())
    click.echo(f"sign in as {DEMO_LOGIN_EMAIL} with password {password}")


def demo_login_file() -> Path:
    return Path(current_app.instance_path) / "demo_login.txt"


def demo_login_user() -> User | None:
    return db.session.scalar(select(User).where(User.email == DEMO_LOGIN_EMAIL))


def ensure_demo_login() -> str:
    """Create the demo admin (random password kept in the instance folder, mode 0600) if missing."""
    login_file = demo_login_file()
    user = demo_login_user()
    if user is not None and login_file.exists():
        return login_file.read_text().strip()
    if user is not None:
        db.session.delete(user)
        db.session.flush()
    password = "-".join(secrets.token_hex(3) for _ in range(4))  # e.g. 3f9a1c-...: 24 hex digits
    create_user(DEMO_LOGIN_EMAIL, "Demo Admin", "admin", password)
    db.session.commit()
    login_file.touch(mode=0o600)
    login_file.write_text(password)
    return password


@click.command("demo-login")
def demo_login_command() -> None:
    """Print the demo login made by `flask demo`."""
    login_file = demo_login_file()
    if not login_file.exists():
        raise click.ClickException("no demo login yet: run `flask --app wsgi demo` first")
    click.echo(f"sign in as {DEMO_LOGIN_EMAIL} with password {login_file.read_text().strip()}")


@click.command("scheduler")
@click.option("--poll", default=5.0, show_default=True, help="Seconds between leadership attempts.")
def scheduler_command(poll: float) -> None:
    """Run the scheduler as its own process (one active at a time; others wait to take over)."""
    from cs_platform.outbox import app_object
    from cs_platform.scheduler import run_scheduler_process

    run_scheduler_process(app_object(), poll_seconds=poll)

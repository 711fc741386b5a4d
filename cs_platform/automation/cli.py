"""`flask rules`: run the rules now, dry-run one, save one from a JSON file."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from cs_platform.automation import definition as rules
from cs_platform.automation.engine import dry_run, run_rules
from cs_platform.automation.models import Rule
from cs_platform.automation.services import Confirmation, save_rule
from cs_platform.extensions import db
from cs_platform.models import User

rules_group = AppGroup("rules", help="Automation rules.")


@rules_group.command("run")
def run_command() -> None:
    """Run every enabled rule and the due waits now (the scheduler does this every 10 minutes)."""
    summary = run_rules()
    for name, count in summary.fired.items():
        click.echo(f"{name}: acted on {count} accounts")
    click.echo(f"waits resumed: {summary.resumed}")
    for name in summary.paused:
        click.echo(f"{name}: paused (would act on too many accounts; see its page)")
    if summary.failed:
        raise click.ClickException(f"failed: {', '.join(summary.failed)} (see the log)")


@rules_group.command("dry-run")
@click.argument("name")
def dry_run_command(name: str) -> None:
    """List the accounts the rule NAME would act on now."""
    rule = db.session.scalar(db.select(Rule).where(Rule.name == name))
    if rule is None:
        raise click.ClickException(f"no rule named {name!r}")
    total, rows = dry_run(rule.definition, rule.id)
    click.echo(f"{name} would act on {total} accounts now")
    for account_id, account_name, reason in rows:
        click.echo(f"  {account_id}\t{account_name}\t{reason}")


@rules_group.command("save")
@click.argument("name")
@click.argument("definition_file", type=click.File())
@click.option("--author", required=True, help="email of the admin saving it (audited)")
@click.option("--confirm", is_flag=True, help="let it act on more than the share limit")
def save_command(name: str, definition_file, author: str, confirm: bool) -> None:
    """Save a rule from a JSON definition (see docs/automation.md)."""
    user = db.session.scalar(db.select(User).where(User.email == author, User.role == "admin"))
    if user is None:
        raise click.ClickException(f"no admin with email {author!r}")
    try:
        raw = json.load(definition_file)
        rule = db.session.scalar(db.select(Rule).where(Rule.name == name))
        saved = save_rule(rule, name, raw, user, confirmed=confirm)
    except json.JSONDecodeError as error:
        raise click.ClickException(f"the definition is not JSON: {error}") from error
    except rules.DefinitionError as error:
        raise click.ClickException(
            "\n".join(f"{p}: {why}" for p, why in error.messages.items())
        ) from error
    if isinstance(saved, Confirmation):
        raise click.ClickException(
            saved.message.replace("Tick “I confirm” and save again", "Add --confirm")
        )
    db.session.commit()
    click.echo(f"saved {name}, version {saved.version}")

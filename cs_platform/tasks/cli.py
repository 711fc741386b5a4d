"""`flask --app wsgi playbooks ...`: manage the built-in playbooks."""

from __future__ import annotations

import click

from cs_platform.extensions import db
from cs_platform.tasks.services import install_default_playbooks


@click.group("playbooks")
def playbooks_group() -> None:
    """Playbooks: named checklists CSMs apply to tasks."""


@playbooks_group.command("install")
def install_command() -> None:
    """Add the built-in playbooks that are missing (by name); safe to run again."""
    added = install_default_playbooks()
    db.session.commit()
    click.echo(f"installed {added} playbook(s)")

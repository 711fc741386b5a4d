"""`flask digest`: preview a user's digest, or send it now."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from cs_platform import clock, outbox
from cs_platform.digest.build import build_digests
from cs_platform.digest.sending import local_now, outbox_row, render
from cs_platform.extensions import db
from cs_platform.models import User

digest_group = AppGroup("digest", help="The daily digest.")


def _user(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user with email {email!r}")
    return user


@digest_group.command("preview")
@click.option("--email", required=True, help="whose digest")
def preview_command(email: str) -> None:
    """Print the text of the user's digest as it would go out now."""
    user = _user(email)
    now = clock.utcnow()
    digest = build_digests([user.id], now, clock.business_date(now))[user.id]
    day = local_now(user.timezone, now).date()
    click.echo(f"Subject: {digest.subject()}")
    if not digest.changed:
        click.echo("(nothing changed since yesterday: no email would be sent)")
    click.echo(render(user, day, digest)[0])


@digest_group.command("send-now")
@click.option("--email", required=True, help="whose digest")
def send_now_command(email: str) -> None:
    """Queue the user's digest now, even if nothing changed or it went out today."""
    user = _user(email)
    now = clock.utcnow()
    digest = build_digests([user.id], now, clock.business_date(now))[user.id]
    row = outbox_row(user, local_now(user.timezone, now).date(), digest)
    row["dedupe_key"] += f":now:{now:%H%M%S%f}"
    outbox.enqueue_many([row])
    db.session.commit()
    click.echo(f"queued “{digest.subject()}” to {user.email}")

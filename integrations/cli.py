"""`flask --app wsgi sync <connection>` and `flask --app wsgi integrations ...`."""

from __future__ import annotations

from pathlib import Path

import click

from cs_platform.audit import record_audit
from cs_platform.extensions import db
from cs_platform.progress import Progress
from integrations.csv_import import import_usage_csv
from integrations.services import save_connection
from integrations.sync import SyncError, find_connection, run_sync
from integrations.usage import hash_write_key, new_write_key, roll_up_all


@click.command("sync")
@click.argument("connection")
def sync_command(connection: str) -> None:
    """Sync one connection (by name or id) now and print what the run did."""
    try:
        target = find_connection(connection)
    except SyncError as error:
        raise click.ClickException(str(error)) from error
    with Progress(1).step(f"syncing {target.name}") as step:
        run = run_sync(target)
        step.detail = f"{run.status}, {run.fetched:,} records fetched"
    click.echo(
        f"{target.name}: {run.status} in {run.duration_seconds}s; fetched {run.fetched}, "
        f"created {run.created}, updated {run.updated}, unmatched {run.unmatched}, "
        f"failed {run.failed}"
    )
    if run.status != "succeeded":
        raise click.ClickException(run.error or "sync failed")


@click.group("integrations")
def integrations_group() -> None:
    """Integrations: usage imports, roll-ups and event sources."""


def text_encoding(_ctx: click.Context, _param: click.Parameter, name: str | None) -> str | None:
    """`name` if Python knows it as a text encoding; else a usage error."""
    if name is not None:
        try:
            "".encode(name)
        except LookupError as error:
            raise click.BadParameter(str(error)) from error
    return name


@integrations_group.command("import-usage")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--encoding",
    callback=text_encoding,
    help="The file's encoding when it is not UTF-8 and has no byte order mark, e.g. cp1252.",
)
def import_usage_command(path: Path, encoding: str | None) -> None:
    """Import daily usage from a CSV (day, active_users, events[, features_used], and
    domain or account_id); bad, unmatched or repeated rows are listed and skipped. Fails when
    nothing could be imported."""
    with Progress(1).step(f"importing {path.name}") as step:
        report = import_usage_csv(path, encoding)
        db.session.commit()
        step.detail = f"{report.imported:,} rows imported, {len(report.problems):,} skipped"
    if not report.rows and not report.problems:
        raise click.ClickException(f"{path.name} has no rows")
    for line in report.problems:
        click.echo(line, err=True)
    click.echo(f"imported {report.imported} row(s), skipped {len(report.problems)}")
    if not report.imported:
        raise click.ClickException(f"nothing was imported from {path.name}")


@integrations_group.command("rollup")
def rollup_command() -> None:
    """Roll raw usage events up into daily usage now."""
    click.echo(f"wrote {roll_up_all()} daily usage row(s)")


@integrations_group.command("add-event-source")
@click.argument("name")
def add_event_source_command(name: str) -> None:
    """Create a Segment-style event source and print its write key once."""
    write_key = new_write_key()
    connection = save_connection(None, name=name, kind="segment", credentials={})
    connection.write_key_hash = hash_write_key(write_key)
    record_audit("connection.write_key_created", name, {"via": "cli"})
    db.session.commit()
    click.echo(f"event source {name!r}; write key (shown once):")
    click.echo(write_key)

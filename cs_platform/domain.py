"""What a domain brings to the app, and how the factory installs it.

Each package declares one or more `Domain` in its `wiring.py` (`cs_platform/wiring.py` for the
kernel's and the shell's own areas): the modules holding its tables, its blueprints, its CLI
commands, its recurring jobs and the outbox handlers it delivers. The factory lists the wiring
modules and calls `install_domains`; nothing else registers anything, so a piece missing from
its package's wiring is missing from the app, visibly, rather than failing when first used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import click
from flask import Blueprint, Flask

from cs_platform.outbox import Handler, OutboxMessage, register_handler
from cs_platform.scheduler import JobSpec, declare_jobs


@dataclass(frozen=True)
class OutboxHandler:
    """Delivers outbox messages of `kind` (see `cs_platform.outbox.register_handler`)."""

    kind: str
    deliver: Handler
    backoff: Sequence[int] | None = None
    prefetch: Callable[[list[OutboxMessage]], Any] | None = None


@dataclass(frozen=True)
class Domain:
    """One package's (or one kernel area's) contribution to the app.

    `models`: the modules defining its tables (imported, so SQLAlchemy and Alembic see one
    metadata). `owned_job_prefixes`: ids of jobs the domain adds and removes itself at run
    time, which the scheduler never prunes. `setup(app)`: anything else it installs (the REST
    API's spec, request metrics).
    """

    name: str
    models: tuple[ModuleType, ...] = ()
    blueprints: tuple[Blueprint, ...] = ()
    commands: tuple[click.Command, ...] = ()
    jobs: tuple[JobSpec, ...] = ()
    owned_job_prefixes: tuple[str, ...] = ()
    outbox_handlers: tuple[OutboxHandler, ...] = ()
    setup: Callable[[Flask], None] | None = None


def install_domains(app: Flask, domains: Sequence[Domain]) -> None:
    """Register every domain's blueprints, commands and outbox handlers, run its setup, and
    declare all their jobs to the scheduler."""
    for domain in domains:
        for blueprint in domain.blueprints:
            app.register_blueprint(blueprint)
        for command in domain.commands:
            app.cli.add_command(command)
        for handler in domain.outbox_handlers:
            register_handler(handler.kind, handler.deliver, handler.backoff, handler.prefetch)
        if domain.setup is not None:
            domain.setup(app)
    declare_jobs(
        app,
        [spec for domain in domains for spec in domain.jobs],
        [prefix for domain in domains for prefix in domain.owned_job_prefixes],
    )

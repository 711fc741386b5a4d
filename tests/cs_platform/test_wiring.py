"""The wiring modules are the whole table of contents: whatever a package defines (tables, pages,
commands, jobs, outbox handlers) is declared by a domain, so nothing is left unregistered."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import click
from flask import Blueprint

from cs_platform import create_app
from cs_platform.domain import Domain
from cs_platform.extensions import db
from cs_platform.outbox import load_handlers
from cs_platform.scheduler import JobSpec, declared_jobs

PACKAGES = ("cs_platform", "surveys", "integrations", "scoring")


def product_modules() -> list[ModuleType]:
    """Every module of the product packages (importing them is what the app does anyway)."""
    modules = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            modules.append(importlib.import_module(info.name))
    return modules


def domains() -> tuple[Domain, ...]:
    from cs_platform import product_domains

    return product_domains()


def test_every_module_with_tables_is_declared_by_a_domain():
    declared = {module.__name__ for domain in domains() for module in domain.models}
    with_tables = {mapper.class_.__module__ for mapper in db.Model.registry.mappers}

    assert with_tables - declared == set()


def test_every_blueprint_a_module_defines_is_registered_by_a_domain():
    declared = {id(bp) for domain in domains() for bp in domain.blueprints}
    defined = [
        f"{module.__name__}.{bp.name}"
        for module in product_modules()
        if not module.__name__.startswith("cs_platform.api.")  # the API's own registry
        for bp in vars(module).values()
        if isinstance(bp, Blueprint) and id(bp) not in declared
    ]

    assert defined == []


def test_every_jobs_list_is_declared_to_the_scheduler(app):
    declared = {spec.id for spec in declared_jobs(app)}
    listed = {
        spec.id
        for module in product_modules()
        for spec in getattr(module, "JOBS", [])
        if isinstance(spec, JobSpec)
    }

    assert listed
    assert listed - declared == set()


def test_every_top_level_command_is_on_the_flask_cli(app):
    registered = set(app.cli.commands.values())
    commands = {
        command
        for module in product_modules()
        for command in vars(module).values()
        if isinstance(command, click.Command)
    }
    subcommands = {
        sub
        for group in commands
        if isinstance(group, click.Group)
        for sub in group.commands.values()
    }

    assert commands - subcommands - registered == set()


def test_the_outbox_delivers_every_kind_the_domains_send(app):
    assert {"email", "account_email", "webhook"} <= set(load_handlers())


def test_a_second_app_gets_the_same_wiring(app):
    other = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})

    assert set(other.blueprints) == set(app.blueprints)
    assert {spec.id for spec in declared_jobs(other)} == {spec.id for spec in declared_jobs(app)}

"""The model registry keeps one active version per kind, also under concurrent trainings, and
training holds no write transaction while it fits."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from cs_platform import create_app
from cs_platform.extensions import db
from scoring.health_model import HealthModel
from scoring.models import ModelVersion
from scoring.registry import Candidate
from scoring.runs import fit_candidates, register_candidates, train_and_commit
from scoring.survival import SurvivalModel

TRAINING = {"months": 3, "rounds": 10, "min_events": 5}
WAIT_SECONDS = 30


def active_versions() -> list[tuple[str, int]]:
    db.session.expire_all()
    query = select(ModelVersion.kind, ModelVersion.id).where(ModelVersion.active)
    return sorted(tuple(row) for row in db.session.execute(query))


def stored_versions() -> int:
    return db.session.scalar(select(func.count()).select_from(ModelVersion))


def test_the_database_refuses_a_second_active_version_of_a_kind(app):
    db.session.add_all(
        [
            ModelVersion(kind="health", active=True),
            ModelVersion(kind="health", active=False),
            ModelVersion(kind="survival", active=True),
        ]
    )
    db.session.commit()

    db.session.add(ModelVersion(kind="health", active=True))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()

    assert [kind for kind, _ in active_versions()] == ["health", "survival"]
    assert stored_versions() == 3


def recording(monkeypatch, model: type, events: list[str]) -> None:
    """Let `model.fit` run as usual and note in `events` when it did."""
    fit = model.fit

    def recorded_fit(*args, **kwargs):
        fitted = fit(*args, **kwargs)
        events.append(f"fitted {model.__name__}")
        return fitted

    monkeypatch.setattr(model, "fit", recorded_fit)


@pytest.fixture
def writes_and_fits(monkeypatch) -> Iterator[list[str]]:
    """What happened, in order: each model fit and each INSERT or UPDATE sent to the database."""
    events: list[str] = []
    recording(monkeypatch, HealthModel, events)
    recording(monkeypatch, SurvivalModel, events)

    def record_write(_connection, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            events.append(" ".join(statement.split()[:3]))

    event.listen(db.engine, "before_cursor_execute", record_write)
    yield events
    event.remove(db.engine, "before_cursor_execute", record_write)


def test_retraining_writes_nothing_until_both_models_are_fitted(synthetic_book, writes_and_fits):
    as_of = synthetic_book(accounts=100)
    train_and_commit(as_of=as_of, **TRAINING)
    first = active_versions()
    writes_and_fits.clear()

    train_and_commit(as_of=as_of, **TRAINING)

    last_fit = max(i for i, e in enumerate(writes_and_fits) if e.startswith("fitted"))
    writes = [e for e in writes_and_fits[last_fit + 1 :] if not e.startswith("fitted")]
    assert writes_and_fits[:last_fit] == ["fitted HealthModel"]
    assert writes_and_fits[last_fit] == "fitted SurvivalModel"
    assert "INSERT INTO model_versions" in writes and "UPDATE model_versions SET" in writes
    replaced = active_versions()
    assert [kind for kind, _ in replaced] == ["health", "survival"]
    assert set(replaced).isdisjoint(first) and stored_versions() == 4


def wait_for_a_session_waiting_on_a_lock() -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while not db.session.scalar(waiting):
        assert time.monotonic() < deadline, "the second training never waited for the first"
        time.sleep(0.05)


class Training(threading.Thread):
    """A training registering `candidates` in its own app context and session; it commits once
    `may_commit` is set, and keeps the registered version ids or the error it met."""

    def __init__(self, app: Flask, candidates: list[Candidate]) -> None:
        super().__init__(daemon=True)
        self.app, self.candidates = app, candidates
        self.registered, self.may_commit = threading.Event(), threading.Event()
        self.version_ids: dict[str, int] = {}
        self.error: Exception | None = None

    def run(self) -> None:
        with self.app.app_context():
            try:
                summary = register_candidates(self.candidates)
                self.registered.set()
                assert self.may_commit.wait(WAIT_SECONDS)
                db.session.commit()
                self.version_ids = {kind: v.id for kind, v in summary.versions.items()}
            except Exception as error:  # noqa: BLE001 - the test reports it
                self.error = error
            finally:
                db.session.remove()


@pytest.mark.postgres
def test_two_trainings_registering_at_once_leave_one_active_version_per_kind(app, synthetic_book):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write lock serialises the trainings; PostgreSQL needs the lock")
    candidates = fit_candidates(synthetic_book(accounts=100), **TRAINING)
    db.session.rollback()
    first, second = Training(app, candidates), Training(app, candidates)
    first.start()
    assert first.registered.wait(WAIT_SECONDS)

    second.may_commit.set()
    second.start()
    wait_for_a_session_waiting_on_a_lock()
    first.may_commit.set()
    first.join(WAIT_SECONDS)
    second.join(WAIT_SECONDS)

    assert (first.error, second.error) == (None, None)
    assert active_versions() == sorted(second.version_ids.items())
    assert stored_versions() == 4
    assert first.version_ids.keys() == second.version_ids.keys() == {"health", "survival"}


@pytest.fixture
def migrated_database(scratch_database_url, tmp_path) -> Iterator[Flask]:
    """An app on an empty database, migrated to the revision before the one-active index."""
    migrated = create_app(
        {"SQLALCHEMY_DATABASE_URI": scratch_database_url(), "SCHEDULER_ENABLED": False},
        instance_path=str(tmp_path),
    )
    with migrated.app_context():
        upgrade(revision="0006-1")
        yield migrated
        downgrade(revision="base")
        db.engine.dispose()


def test_the_migration_keeps_only_the_newest_active_version_of_each_kind(migrated_database):
    trained = dt.datetime(2026, 11, 2, 3)
    week = dt.timedelta(days=7)
    rows = [
        {"kind": "health", "trained_at": trained, "active": True},
        {"kind": "health", "trained_at": trained + week, "active": True},
        {"kind": "health", "trained_at": trained + 2 * week, "active": False},
        {"kind": "survival", "trained_at": trained, "active": True},
    ]
    insert = text(
        "INSERT INTO model_versions (kind, trained_at, features, parameters, metrics, active) "
        "VALUES (:kind, :trained_at, '[]', '{}', '{}', :active)"
    )
    with db.engine.begin() as connection:
        connection.execute(insert, rows)

    upgrade(revision="0006")

    with db.engine.connect() as connection:
        active = connection.execute(text("SELECT id FROM model_versions WHERE active ORDER BY id"))
        assert active.scalars().all() == [2, 4]

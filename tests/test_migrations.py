"""One migration history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from cs_platform import create_app, include_in_migrations
from cs_platform.extensions import db


def test_migrations_build_the_models_schema_and_downgrade_cleanly(scratch_database_url, tmp_path):
    migrated = create_app(
        {"SQLALCHEMY_DATABASE_URI": scratch_database_url(), "SCHEDULER_ENABLED": False},
        instance_path=str(tmp_path),
    )
    with migrated.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": include_in_migrations, "compare_type": True}
            )
            assert compare_metadata(context, db.metadata) == []
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()

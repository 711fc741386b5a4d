"""What the integrations domain brings to the app (see `cs_platform/domain.py`)."""

from __future__ import annotations

from cs_platform.domain import Domain
from integrations import jobs, models
from integrations.cli import integrations_group, sync_command
from integrations.ingest_routes import bp as ingest_bp
from integrations.routes import bp as admin_bp

DOMAIN = Domain(
    "integrations",
    models=(models,),
    blueprints=(ingest_bp, admin_bp),
    commands=(sync_command, integrations_group),
    jobs=tuple(jobs.JOBS),
)

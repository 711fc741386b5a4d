"""What the scoring domain brings to the app (see `cs_platform/domain.py`)."""

from __future__ import annotations

from cs_platform.domain import Domain
from scoring import jobs, models
from scoring.cli import scoring_group
from scoring.routes import bp as admin_bp

DOMAIN = Domain(
    "scoring",
    models=(models,),
    blueprints=(admin_bp,),
    commands=(scoring_group,),
    jobs=tuple(jobs.JOBS),
)

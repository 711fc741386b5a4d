"""What the survey domain brings to the app (see `cs_platform/domain.py`)."""

from __future__ import annotations

from cs_platform.domain import Domain, OutboxHandler
from surveys import jobs, mailer, models
from surveys.public_routes import bp as public_bp
from surveys.routes import bp as admin_bp

DOMAIN = Domain(
    "surveys",
    models=(models,),
    blueprints=(admin_bp, public_bp),
    jobs=tuple(jobs.JOBS),
    # Each campaign's own job ("survey-campaign-<id>"), kept in step by sync_campaign_jobs.
    owned_job_prefixes=(jobs.JOB_PREFIX,),
    outbox_handlers=(
        OutboxHandler("email", mailer.deliver_email, prefetch=mailer.prefetch_invitations),
    ),
)

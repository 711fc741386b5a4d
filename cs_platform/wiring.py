"""What the kernel and the shell bring to the app, area by area (see `cs_platform/domain.py`).

The domain packages declare theirs in `surveys/wiring.py`, `integrations/wiring.py` and
`scoring/wiring.py`; the factory installs all of them.
"""

from __future__ import annotations

from cs_platform import job_runs, models, outbox, retention, scheduler
from cs_platform.accounts import models as account_models
from cs_platform.accounts.routes import bp as accounts_bp
from cs_platform.admin.api_key_routes import bp as api_keys_bp
from cs_platform.admin.routes import bp as admin_bp
from cs_platform.alerts import delivery as alert_delivery
from cs_platform.alerts import models as alert_models
from cs_platform.alerts.notify import outbox_kind as alert_kind
from cs_platform.alerts.routes import bp as alerts_bp
from cs_platform.api import init_api
from cs_platform.auth import emails as account_emails
from cs_platform.auth.routes import bp as auth_bp
from cs_platform.automation import jobs as automation_jobs
from cs_platform.automation import models as automation_models
from cs_platform.automation.cli import rules_group
from cs_platform.automation.routes import bp as automation_bp
from cs_platform.book.routes import bp as book_bp
from cs_platform.cli import (
    create_api_key_command,
    create_user_command,
    demo_command,
    demo_login_command,
    scheduler_command,
)
from cs_platform.dashboards.routes import bp as dashboards_bp
from cs_platform.demo import models as demo_models
from cs_platform.digest import jobs as digest_jobs
from cs_platform.digest import models as digest_models
from cs_platform.digest import sending as digest_sending
from cs_platform.digest.cli import digest_group
from cs_platform.digest.routes import bp as digest_bp
from cs_platform.domain import Domain, OutboxHandler
from cs_platform.health_routes import bp as health_bp
from cs_platform.privacy import erase_contact_command
from cs_platform.prometheus_routes import bp as metrics_bp
from cs_platform.request_metrics import install_request_metrics
from cs_platform.tasks import jobs as task_jobs
from cs_platform.tasks import models as task_models
from cs_platform.tasks.cli import playbooks_group
from cs_platform.tasks.routes import bp as tasks_bp
from cs_platform.webhooks import delivery as webhook_delivery
from cs_platform.webhooks import models as webhook_models
from cs_platform.webhooks.events import OUTBOX_KIND as WEBHOOK_KIND
from cs_platform.webhooks.routes import bp as webhooks_bp

KERNEL = Domain(
    "kernel",
    models=(models, outbox, job_runs, scheduler),
    blueprints=(health_bp, metrics_bp),
    commands=(scheduler_command, outbox.outbox_group, retention.retention_group),
    jobs=(*scheduler.JOBS, *retention.JOBS),
    setup=install_request_metrics,
)
AUTH = Domain(
    "auth",
    blueprints=(auth_bp, api_keys_bp),
    commands=(create_user_command, create_api_key_command, erase_contact_command),
    outbox_handlers=(
        OutboxHandler(account_emails.OUTBOX_KIND, account_emails.deliver_account_email),
    ),
)
WEBHOOKS = Domain(
    "webhooks",
    models=(webhook_models,),
    blueprints=(webhooks_bp,),
    outbox_handlers=(
        OutboxHandler(WEBHOOK_KIND, webhook_delivery.deliver_webhook, webhook_delivery.BACKOFF),
    ),
)
TASKS = Domain(
    "tasks",
    models=(task_models,),
    blueprints=(tasks_bp,),
    commands=(playbooks_group,),
    jobs=tuple(task_jobs.JOBS),
)
ALERTS = Domain(
    "alerts",
    models=(alert_models,),
    blueprints=(alerts_bp,),
    outbox_handlers=(
        OutboxHandler(alert_kind("slack"), alert_delivery.deliver_slack_alert),
        OutboxHandler(alert_kind("teams"), alert_delivery.deliver_teams_alert),
        OutboxHandler(alert_kind("email"), alert_delivery.deliver_email_alert),
    ),
)
AUTOMATION = Domain(
    "automation",
    models=(automation_models,),
    blueprints=(automation_bp,),
    commands=(rules_group,),
    jobs=tuple(automation_jobs.JOBS),
)
DIGEST = Domain(
    "digest",
    models=(digest_models,),
    blueprints=(digest_bp,),
    commands=(digest_group,),
    jobs=tuple(digest_jobs.JOBS),
    outbox_handlers=(OutboxHandler(digest_sending.OUTBOX_KIND, digest_sending.deliver_digest),),
)
PAGES = Domain(
    "pages", models=(account_models,), blueprints=(accounts_bp, book_bp, dashboards_bp, admin_bp)
)
API = Domain("api", setup=init_api)
DEMO = Domain("demo", models=(demo_models,), commands=(demo_command, demo_login_command))

AREAS = (KERNEL, AUTH, WEBHOOKS, TASKS, ALERTS, AUTOMATION, DIGEST, PAGES, API, DEMO)

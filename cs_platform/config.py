"""Configuration: defaults in code, environment variables override, secrets in the instance dir."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError, StatementError
from sqlalchemy.pool import NullPool

from cs_platform.setting_types import (
    LIMITER_STORAGE,
    Boolean,
    Choice,
    CommaList,
    ConfigError,
    Days,
    FernetKeys,
    Integer,
    RateLimit,
    Secret,
    Setting,
    Text,
    TimeZone,
    Url,
    markdown_table,
)

SUPPORTED_BACKENDS = ("postgresql", "sqlite")


@dataclass(frozen=True)
class DatabaseUrl:
    """A PostgreSQL or SQLite URL, normalised to the psycopg 3 driver."""

    allowed: str = "`postgresql://user:pass@host:5432/db` or `sqlite:///path/to/file.db`"

    def parse(self, name: str, raw: str) -> str:
        return normalise_database_url(raw.strip())


def instance_secret_key(instance_path: Path) -> str:
    """The SECRET_KEY kept in the instance folder, generated on first run (mode 0600)."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_hex(32)
    key_file.touch(mode=0o600)
    key_file.write_text(key)
    return key


def instance_fernet_key(instance_path: Path, name: str) -> str:
    """A Fernet key kept in the instance folder under `name`, generated on first run (mode 0600)."""
    key_file = instance_path / name
    if key_file.exists():
        return key_file.read_text().strip()
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    key_file.touch(mode=0o600)
    key_file.write_text(key)
    return key


def normalise_database_url(url: str) -> str:
    """Validate a DATABASE_URL and prefer the psycopg 3 driver for PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"DATABASE_URL {url!r} is malformed: expected e.g. "
            "postgresql://user@host:5432/dbname or sqlite:///path/to/file.db"
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"DATABASE_URL uses {parsed.drivername!r}; supported are postgresql:// and sqlite:///"
        )
    return parsed.render_as_string(hide_password=False)


def _mail_dir(instance_path: Path) -> str:
    return str(instance_path / "mail")


def _sqlite_in_instance(instance_path: Path) -> str:
    return normalise_database_url(f"sqlite:///{instance_path / 'cs_platform.db'}")


def _integrations_key(instance_path: Path) -> str:
    return instance_fernet_key(instance_path, "integrations_key")


SECONDS, COUNT, PERCENT, POINTS = Integer(1), Integer(1), Integer(0, 100), Integer(0, 100)
GUNICORN = "(read by `deploy/gunicorn.conf.py`)"

# Every environment variable the product reads: load_config parses those with a config key;
# docs/configuration.md is generated from this table (tests/cs_platform/test_config.py).
# fmt: off
SETTINGS: tuple[Setting, ...] = (
    # Core: database, keys, addresses, logging.
    Setting("DATABASE_URL", DatabaseUrl(), _sqlite_in_instance,
            "the database; a wrong or unreachable one stops start-up",
            key="SQLALCHEMY_DATABASE_URI", shown_default="SQLite file in `instance/`"),
    Setting("SECRET_KEY", Secret(), instance_secret_key,
            "session and CSRF signing; the same on every machine",
            shown_default="generated into `instance/secret_key`"),
    Setting("INSTANCE_PATH", Text("directory"), None,
            "where the SQLite file, secret keys and mail files live",
            key=None, shown_default="`instance/`"),
    Setting("BASE_URL", Url(("http", "https")), "http://127.0.0.1:5000",
            "public address, used in links in emails"),
    Setting("LOG_FORMAT", Choice(("json", "text")), "json",
            "one JSON object per line on stderr, or plain text"),
    Setting("LOG_LEVEL", Choice(("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")), "INFO",
            "least severe log level written"),
    Setting("BUSINESS_TIMEZONE", TimeZone(), "UTC",
            "the zone whose date is \"today\" for pages, forms, tasks and the nightly scores' "
            "day; stored timestamps and job times stay UTC"),
    # Web requests and proxies.
    Setting("MAX_CONTENT_LENGTH", Integer(1024), 1024 * 1024,
            "largest request body in bytes (chunked included); /v1/* hold theirs to 32 KB per "
            "event, 500 KB per batch"),
    Setting("TRUSTED_PROXY_HOPS", Integer(0, 10), 0,
            "reverse proxies whose `X-Forwarded-*` headers to trust: 1 behind nginx or a load "
            "balancer ([security.md](security.md))"),
    Setting("SESSION_COOKIE_SECURE", Boolean(), False,
            "HTTPS-only session and remember-me cookies; also sends HSTS"),
    Setting("REMEMBER_COOKIE_DAYS", Days(1), dt.timedelta(days=30),
            "how long \"keep me signed in\" lasts", key="REMEMBER_COOKIE_DURATION"),
    Setting("METRICS_TOKEN", Secret(), "",
            "bearer token for `/metrics`; without one only loopback scrapers are answered"),
    Setting("PROMETHEUS_MULTIPROC_DIR", Text("directory"), None,
            "an empty directory where each gunicorn worker keeps its request counts, summed by "
            "`/metrics`; needed with more than one worker, else each scrape shows one worker's",
            key=None,
            shown_default="none (set by the systemd web unit)"),
    # Rate limits.
    Setting("RATELIMIT_STORAGE_URI", LIMITER_STORAGE, "memory://",
            "the rate limiter's counters: `redis://host:6379/0` when running several workers"),
    Setting("LOGIN_RATE_LIMIT", RateLimit(), "5 per minute;20 per hour",
            "failed sign-ins per client address and account"),
    Setting("LOGIN_ADDRESS_RATE_LIMIT", RateLimit(), "100 per hour",
            "failed sign-ins per client address, across accounts"),
    Setting("LOGIN_ACCOUNT_RATE_LIMIT", RateLimit(), "100 per hour",
            "failed sign-ins per account, which also emails its owner"),
    Setting("PASSWORD_RESET_RATE_LIMIT", RateLimit(), "5 per hour",
            "reset-link requests per address and per email"),
    Setting("SURVEY_PAGE_RATE_LIMIT", RateLimit(), "60 per minute",
            "public survey page requests per client address"),
    Setting("API_RATE_LIMIT", RateLimit(), "1200 per minute",
            "REST API requests per API key ([api.md](api.md))"),
    Setting("API_KEY_CACHE_SECONDS", Integer(0, 300), 10,
            "how long a web process trusts an API key it has checked: a key revoked or "
            "rescoped elsewhere works as before for up to this long (0: check on every call; "
            "[security.md](security.md))"),
    Setting("INGEST_RATE_LIMIT", RateLimit(), "6000 per minute",
            "Segment-style ingestion requests (`/v1/*`)"),
    # Scheduler and outbox.
    Setting("SCHEDULER_ENABLED", Boolean(), False,
            "run APScheduler and outbox delivery in this process (on under `make run`); with "
            "several web processes one leads (a lock per database), the others stand by"),
    Setting("SCHEDULER_EXTRA_JOB_MODULES", CommaList(), [],
            "modules with a `JOBS` list, run besides the scheduler's own"),
    Setting("READY_REQUIRES_SCHEDULER", Boolean(), False,
            "`/readyz` also needs a scheduler lease renewed within a minute"),
    Setting("OUTBOX_LEASE_SECONDS", SECONDS, 300,
            "how long a worker holds claimed messages unless renewed (it renews the rest of its "
            "batch once half has run out); more than twice `WEBHOOK_TIMEOUT_SECONDS`"),
    Setting("OUTBOX_BACKOFF_PERCENT", Integer(0, 10_000), 100,
            "scale of every retry wait (100: each handler's schedule as declared)"),
    Setting("OUTBOX_LANES", Integer(1, 256), 8,
            "webhook endpoints a worker delivers to at once, each on its own thread"),
    # Retention.
    Setting("RAW_USAGE_EVENTS_RETENTION_DAYS", Integer(0), 35,
            "days raw usage events are kept (0: forever; else at least 7)"),
    Setting("DELIVERY_LOG_RETENTION_DAYS", Integer(0), 90,
            "days finished outbox messages and webhook delivery logs are kept (0: forever)"),
    # Email.
    Setting("MAIL_TRANSPORT", Choice(("file", "smtp")), "file",
            "`file`: `.eml` files in `MAIL_DIR`; `smtp`: through `SMTP_HOST`"),
    Setting("MAIL_DIR", Text("directory"), _mail_dir,
            "where the file transport writes", shown_default="`instance/mail`"),
    Setting("MAIL_FROM", Text("email address"), "surveys@cs-platform.localhost",
            "sender address"),
    Setting("SMTP_HOST", Text("host name or address"), "127.0.0.1", "SMTP relay"),
    Setting("SMTP_PORT", Integer(1, 65535), 25, "SMTP relay's port"),
    Setting("SMTP_SECURITY", Choice(("plain", "starttls", "ssl")), "plain",
            "connection security to the relay"),
    Setting("SMTP_USERNAME", Text(), None, "SMTP login; none: no login"),
    Setting("SMTP_PASSWORD", Secret(), None, "SMTP password"),
    Setting("SMTP_ALLOW_PLAIN_AUTH", Boolean(), False,
            "allow an SMTP login over a plain connection (else starttls or ssl is needed)"),
    Setting("SMTP_TIMEOUT", SECONDS, 30, "seconds to wait for the relay"),
    Setting("SMTP_RATE_PER_SECOND", Integer(0), 0, "most messages sent per second (0: no pacing)"),
    Setting("SURVEY_FATIGUE_DAYS", Integer(0), 90,
            "days after a survey before a contact is asked again, any survey or campaign"),
    # Webhooks.
    Setting("WEBHOOK_ENCRYPTION_KEY", FernetKeys(), None,
            "encrypts webhook secrets at rest", shown_default="derived from `SECRET_KEY`"),
    Setting("WEBHOOK_TIMEOUT_SECONDS", SECONDS, 15, "deadline of one webhook delivery"),
    Setting("WEBHOOK_ROTATION_OVERLAP_HOURS", Integer(0), 24,
            "hours an old signing secret keeps signing beside a rotated one"),
    Setting("WEBHOOK_FLAG_AFTER_FAILURES", COUNT, 5,
            "consecutive failed deliveries before an endpoint is flagged"),
    # Alerts ([alerts.md](alerts.md)).
    Setting("ALERTS_ALLOW_PRIVATE_HOSTS", Boolean(), False,
            "whether users' Slack and Teams alert webhook URLs may be http:// or private and "
            "loopback addresses (an internal relay; the tests' fake receivers)"),
    # Integrations.
    Setting("INTEGRATIONS_KEY", FernetKeys(), _integrations_key,
            "encrypts connection credentials at rest; the same on every machine",
            shown_default="generated into `instance/integrations_key`"),
    Setting("INTEGRATIONS_HTTP_TIMEOUT", SECONDS, 30, "seconds per connector HTTP request"),
    Setting("INTEGRATIONS_ALLOWED_HOSTS", CommaList(), [],
            "hosts (`host` or `host:port`) besides the vendors' own that connectors may send "
            "credentials to"),
    Setting("INTEGRATIONS_ALLOW_PRIVATE_HOSTS", Boolean(), False,
            "whether those hosts may be private addresses"),
    Setting("WAREHOUSE_STATEMENT_TIMEOUT_SECONDS", SECONDS, 300,
            "timeout of a SQL warehouse source's read-only query"),
    Setting("WAREHOUSE_MAX_ROWS", COUNT, 1_000_000, "rows a SQL warehouse query may return"),
    # Scoring and tasks ([scoring.md](scoring.md)).
    Setting("SCORING_MIN_CHURN_EVENTS", COUNT, 30,
            "churned accounts needed before the models train; until then the scorecard scores"),
    Setting("SCORING_BOOST_ROUNDS", COUNT, 600,
            "most boosting rounds the health model's cross-validation may use (early stopping "
            "picks fewer)"),
    Setting("SCORING_TRAINING_MONTHS", Integer(1, 120), 12, "months of history models train on"),
    Setting("HEALTH_MODEL_GREEN_AT", POINTS, 50,
            "learned health score 100 × b / (p + b) at or above which an account is green "
            "(50: the book's average risk); p = P(churn in 90 days), b = the book's base rate; "
            "the scorecard's bands are set on its admin page"),
    Setting("HEALTH_MODEL_RED_BELOW", POINTS, 33,
            "learned health score below which an account is red (33: over twice average risk)"),
    Setting("HEALTH_BAND_MARGIN_POINTS", POINTS, 2,
            "points past a band's edge before `health_score.changed` announces the change"),
    Setting("HEALTH_CHANGE_POINTS", POINTS, 10,
            "a day's score move that `health_score.changed` announces without a band change"),
    Setting("SCORING_FLAG_RENEWAL_PERCENT", PERCENT, 50,
            "P(churn before renewal) that opens a churn-risk task"),
    Setting("SCORING_FLAG_90D_PERCENT", PERCENT, 30,
            "P(churn within 90 days) that opens a churn-risk task"),
    Setting("SCORING_FLAG_RELATIVE_RISK", Integer(0), 3,
            "90-day risk, as a multiple of the book's average, that opens a churn-risk task "
            "(0: off)"),
    Setting("SCORING_FLAG_DROP_POINTS", POINTS, 15,
            "health points lost within 30 days that open a health-drop task"),
    Setting("RENEWAL_TASK_DAYS", Integer(1, 730), 90,
            "days before a renewal its prep task opens (once per renewal, due 60 days before)"),
    Setting("DIGEST_ENABLED", Boolean(), True,
            "send each user the daily digest of their book (DIGEST_HOUR, their time zone)"),
    Setting("DIGEST_HOUR", Integer(0, 23), 7,
            "local hour (the user's time zone, else BUSINESS_TIMEZONE) from which the daily "
            "digest goes out"),
    Setting("AUTOMATION_CONFIRM_PERCENT", PERCENT, 10,
            "share of the live book an automation rule may act on in one run without an "
            "admin's confirmation (more: it asks when saved, and a run pauses it)"),
    # gunicorn (deploy/gunicorn.conf.py reads these itself).
    Setting("BIND", Text("address:port"), "0.0.0.0:8000", f"where gunicorn listens {GUNICORN}",
            key=None),
    Setting("WEB_CONCURRENCY", Integer(1), None, f"gunicorn worker processes {GUNICORN}",
            key=None, shown_default="2 × CPUs + 1"),
    Setting("WEB_THREADS", Integer(1), 2, f"threads per gunicorn worker {GUNICORN}", key=None),
    Setting("FORWARDED_ALLOW_IPS", Text("addresses, comma-separated"), "127.0.0.1",
            f"proxies gunicorn takes the scheme from {GUNICORN}", key=None),
)
# fmt: on

# Fixed settings, not read from the environment.
FIXED_CONFIG: dict[str, Any] = {
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    # Off: Flask-Limiter would send Retry-After on every answer; cs_platform.errors writes
    # the X-RateLimit-* headers itself and Retry-After on 429 only.
    "RATELIMIT_HEADERS_ENABLED": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": None,
}


def load_config(instance_path: Path) -> dict[str, Any]:
    """Build the app configuration: each setting parsed from the environment, or its default;
    a bad value raises ConfigError naming the variable, the value and what is allowed."""
    instance_path.mkdir(parents=True, exist_ok=True)
    parsed = {s.config_key: s.read(instance_path) for s in SETTINGS if s.config_key is not None}
    parsed["REMEMBER_COOKIE_SECURE"] = parsed["SESSION_COOKIE_SECURE"]
    return FIXED_CONFIG | parsed


def settings_markdown() -> str:
    """The table of docs/configuration.md."""
    return markdown_table(SETTINGS)


def check_outbox_timing(config: dict[str, Any]) -> None:
    """A worker renews its lease once half of it has run out, before each message: half a
    lease must outlast a webhook's whole deadline, or a second worker could send it again."""
    lease, deadline = config["OUTBOX_LEASE_SECONDS"], config["WEBHOOK_TIMEOUT_SECONDS"]
    if lease <= 2 * deadline:
        raise ConfigError(
            f"OUTBOX_LEASE_SECONDS={lease} is too short for WEBHOOK_TIMEOUT_SECONDS={deadline}: "
            "make the lease more than twice the deadline"
        )


def check_database(url: str) -> None:
    """Connect once so a wrong or unreachable database stops start-up with one clear line."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        safe_url = make_url(url).render_as_string(hide_password=True)
        orig = exc.orig if isinstance(exc, StatementError) else None  # the driver's message
        reason = str(orig or exc).strip().splitlines()[0]
        raise ConfigError(f"cannot reach DATABASE_URL {safe_url}: {reason}") from exc
    finally:
        engine.dispose()

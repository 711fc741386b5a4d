"""Configuration: defaults in code, environment variables override, secrets in the instance dir."""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

SUPPORTED_BACKENDS = ("postgresql", "sqlite")


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which one and how to fix it."""


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean variable, failing loudly on anything but the usual spellings."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def env_int(name: str, default: int) -> int:
    """Read an integer variable, failing loudly on a non-number."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc


def env_list(name: str) -> list[str]:
    """Read a comma-separated variable into a list of non-empty, stripped items."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


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


def load_config(instance_path: Path) -> dict[str, Any]:
    """Build the app configuration from the environment with safe defaults."""
    instance_path.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'cs_platform.db'}"
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or instance_secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # The largest request body any endpoint reads (bytes; chunked bodies included); the
        # ingestion endpoints (/v1/*) hold theirs to Segment's 32 KB per event, 500 KB per batch.
        "MAX_CONTENT_LENGTH": env_int("MAX_CONTENT_LENGTH", 1024 * 1024),
        "BASE_URL": os.environ.get("BASE_URL", "http://127.0.0.1:5000"),
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host/-Port to trust
        # (0: none, so nobody can forge a client address; 1 behind nginx or one load balancer).
        "TRUSTED_PROXY_HOPS": env_int("TRUSTED_PROXY_HOPS", 0),
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "SCHEDULER_ENABLED": env_bool("SCHEDULER_ENABLED", False),
        # Comma-separated modules with a JOBS list, run besides scheduler.JOB_MODULES.
        "SCHEDULER_EXTRA_JOB_MODULES": env_list("SCHEDULER_EXTRA_JOB_MODULES"),
        # Outbox: how long a worker holds claimed messages (a dead worker's come back after it)
        # and a percentage applied to every retry wait (100: the handler's schedule as declared).
        "OUTBOX_LEASE_SECONDS": env_int("OUTBOX_LEASE_SECONDS", 300),
        "OUTBOX_BACKOFF_PERCENT": env_int("OUTBOX_BACKOFF_PERCENT", 100),
        # Lanes (webhook endpoints) one worker delivers to at once, each on a thread of its own.
        "OUTBOX_LANES": env_int("OUTBOX_LANES", 8),
        # Retention (cs_platform/retention.py): days kept; 0 keeps forever.
        "RAW_USAGE_EVENTS_RETENTION_DAYS": env_int("RAW_USAGE_EVENTS_RETENTION_DAYS", 35),
        "DELIVERY_LOG_RETENTION_DAYS": env_int("DELIVERY_LOG_RETENTION_DAYS", 90),
        "READY_REQUIRES_SCHEDULER": env_bool("READY_REQUIRES_SCHEDULER", False),
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        "MAIL_TRANSPORT": os.environ.get("MAIL_TRANSPORT", "file"),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "surveys@cs-platform.localhost"),
        "SMTP_HOST": os.environ.get("SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": env_int("SMTP_PORT", 25),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME"),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD"),
        "SMTP_SECURITY": os.environ.get("SMTP_SECURITY", "plain"),  # plain, starttls or ssl
        # A login over a plain connection would show the password to the network: refused
        # unless the relay is on a network trusted for it.
        "SMTP_ALLOW_PLAIN_AUTH": env_bool("SMTP_ALLOW_PLAIN_AUTH", False),
        "SMTP_TIMEOUT": env_int("SMTP_TIMEOUT", 30),
        "SMTP_RATE_PER_SECOND": env_int("SMTP_RATE_PER_SECOND", 0),  # 0: as fast as it goes
        "MAIL_DIR": os.environ.get("MAIL_DIR") or str(instance_path / "mail"),  # file transport
        "SURVEY_FATIGUE_DAYS": env_int("SURVEY_FATIGUE_DAYS", 90),  # any survey, any campaign
        "SURVEY_PAGE_RATE_LIMIT": os.environ.get("SURVEY_PAGE_RATE_LIMIT", "60 per minute"),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        # Off: Flask-Limiter would send Retry-After on every answer; cs_platform.errors writes
        # the X-RateLimit-* headers itself and Retry-After on 429 only.
        "RATELIMIT_HEADERS_ENABLED": False,
        # Failed sign-ins (cs_platform/auth/routes.py): per client address and account, per
        # address across accounts, and a high cap per account that also emails its owner.
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "5 per minute;20 per hour"),
        "LOGIN_ADDRESS_RATE_LIMIT": os.environ.get("LOGIN_ADDRESS_RATE_LIMIT", "100 per hour"),
        "LOGIN_ACCOUNT_RATE_LIMIT": os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT", "100 per hour"),
        "PASSWORD_RESET_RATE_LIMIT": os.environ.get("PASSWORD_RESET_RATE_LIMIT", "5 per hour"),
        "REMEMBER_COOKIE_DURATION": dt.timedelta(days=env_int("REMEMBER_COOKIE_DAYS", 30)),
        # REST API and outbound webhooks (docs/api.md).
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "1200 per minute"),
        # Fernet key (urlsafe base64, 32 bytes) for webhook secrets at rest; derived from
        # SECRET_KEY when unset.
        "WEBHOOK_ENCRYPTION_KEY": os.environ.get("WEBHOOK_ENCRYPTION_KEY"),
        "WEBHOOK_TIMEOUT_SECONDS": env_int("WEBHOOK_TIMEOUT_SECONDS", 15),
        "WEBHOOK_ROTATION_OVERLAP_HOURS": env_int("WEBHOOK_ROTATION_OVERLAP_HOURS", 24),
        "WEBHOOK_FLAG_AFTER_FAILURES": env_int("WEBHOOK_FLAG_AFTER_FAILURES", 5),
        "HEALTH_CHANGE_POINTS": env_int("HEALTH_CHANGE_POINTS", 10),
        # Integrations: Fernet key for connection credentials at rest, HTTP timeout (seconds),
        # and the rate limit of the Segment-style ingestion endpoint (/v1/*).
        "INTEGRATIONS_KEY": os.environ.get("INTEGRATIONS_KEY")
        or instance_fernet_key(instance_path, "integrations_key"),
        "INTEGRATIONS_HTTP_TIMEOUT": env_int("INTEGRATIONS_HTTP_TIMEOUT", 30),
        # Credentials go only to each vendor's own hosts over https, plus these (host or
        # host:port, comma-separated); private addresses only with ..._ALLOW_PRIVATE_HOSTS.
        "INTEGRATIONS_ALLOWED_HOSTS": env_list("INTEGRATIONS_ALLOWED_HOSTS"),
        "INTEGRATIONS_ALLOW_PRIVATE_HOSTS": env_bool("INTEGRATIONS_ALLOW_PRIVATE_HOSTS", False),
        # SQL warehouse sources: each query runs read-only under this timeout and row cap.
        "WAREHOUSE_STATEMENT_TIMEOUT_SECONDS": env_int("WAREHOUSE_STATEMENT_TIMEOUT_SECONDS", 300),
        "WAREHOUSE_MAX_ROWS": env_int("WAREHOUSE_MAX_ROWS", 1_000_000),
        "INGEST_RATE_LIMIT": os.environ.get("INGEST_RATE_LIMIT", "6000 per minute"),
        # Scoring (scoring/): cold start until this many churned accounts in the training window.
        "SCORING_MIN_CHURN_EVENTS": env_int("SCORING_MIN_CHURN_EVENTS", 30),
        "SCORING_BOOST_ROUNDS": env_int("SCORING_BOOST_ROUNDS", 600),
        "SCORING_TRAINING_MONTHS": env_int("SCORING_TRAINING_MONTHS", 12),
        # Bands of the learned model's score, 100 x b / (p + b) with p the account's P(churn
        # within 90 days) and b the book's base rate: green at or below the book's average risk
        # (50), red from about three times it (below 33, p > 2 b). (The scorecard's own 0-100
        # scale has its thresholds on the scorecard page.)
        "HEALTH_MODEL_GREEN_AT": env_int("HEALTH_MODEL_GREEN_AT", 50),
        "HEALTH_MODEL_RED_BELOW": env_int("HEALTH_MODEL_RED_BELOW", 33),
        # health_score.changed announces a band change only once the score is this many points
        # past the edge it crossed (a wiggle across a boundary is not news).
        "HEALTH_BAND_MARGIN_POINTS": env_int("HEALTH_BAND_MARGIN_POINTS", 2),
        # Risk flags: percentages of P(churn) and points of health lost within 30 days.
        "SCORING_FLAG_RENEWAL_PERCENT": env_int("SCORING_FLAG_RENEWAL_PERCENT", 50),
        "SCORING_FLAG_90D_PERCENT": env_int("SCORING_FLAG_90D_PERCENT", 30),
        "SCORING_FLAG_DROP_POINTS": env_int("SCORING_FLAG_DROP_POINTS", 15),
        # ... and a 90-day risk this many times the book's average (0: off).
        "SCORING_FLAG_RELATIVE_RISK": env_int("SCORING_FLAG_RELATIVE_RISK", 3),
        # Renewal prep: one task per renewal, opened this many days before it.
        "RENEWAL_TASK_DAYS": env_int("RENEWAL_TASK_DAYS", 90),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", False),
        "WTF_CSRF_TIME_LIMIT": None,
    }


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
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise ConfigError(f"cannot reach DATABASE_URL {safe_url}: {reason}") from exc
    finally:
        engine.dispose()

"""Settings: each environment variable parsed and checked at start-up, and documented in one table
(docs/configuration.md) generated from `cs_platform.config.SETTINGS`."""

from __future__ import annotations

import ast
import datetime as dt
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cs_platform import create_app
from cs_platform.config import SETTINGS, ConfigError, load_config, settings_markdown

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
# Where the product reads its environment (tests/ and bench/ have their own variables).
PACKAGES = ("cs_platform", "surveys", "integrations", "scoring")
SOURCES = (*PACKAGES, "wsgi.py", "deploy/gunicorn.conf.py")
# The generic reader of SETTINGS names; every other read must name its variable.
GENERIC_READERS = {"cs_platform/setting_types.py"}


@pytest.fixture
def env(monkeypatch) -> Iterator[pytest.MonkeyPatch]:
    """No setting from the surrounding environment; the test sets what it needs."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    yield monkeypatch


# The documentation


def test_the_documented_table_is_the_one_generated_from_the_settings():
    assert settings_markdown() in DOC.read_text(), (
        "docs/configuration.md is out of date: regenerate its table with "
        "python -c 'from cs_platform.config import settings_markdown; print(settings_markdown())'"
    )


def test_every_documented_variable_is_a_setting_and_every_setting_is_documented():
    documented = re.findall(r"^\| `([A-Z0-9_]+)` \|", DOC.read_text(), flags=re.MULTILINE)
    assert sorted(documented) == sorted(setting.name for setting in SETTINGS)
    assert len(documented) == len(set(documented))


def environment_reads(path: Path) -> tuple[set[str], list[str]]:
    """Variables named by os.environ / os.getenv / env_* calls in one file, and unnamed reads."""
    tree = ast.parse(path.read_text())
    constants = {
        target.id: node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }
    names: set[str] = set()
    unnamed = [  # `from os import environ` would hide reads from the checks below
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "os"
    ]
    for node in ast.walk(tree):
        argument = read_argument(node)
        if argument is None:
            continue
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            names.add(argument.value)
        elif isinstance(argument, ast.Name) and argument.id in constants:
            names.add(constants[argument.id])
        else:
            unnamed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return names, unnamed


def read_argument(node: ast.AST) -> ast.expr | None:
    """The variable name's expression of an environment read, or None for other nodes."""
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
        return node.slice
    if not isinstance(node, ast.Call) or not node.args:
        return None
    function = ast.unparse(node.func)
    is_env_helper = re.fullmatch(r"env_[a-z]+", function)
    if function in ("os.environ.get", "os.getenv") or is_env_helper:
        return node.args[0]
    return None


def product_files() -> Iterator[Path]:
    for source in SOURCES:
        path = ROOT / source
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def test_every_variable_the_code_reads_is_a_documented_setting():
    read: set[str] = set()
    unnamed: list[str] = []
    for path in product_files():
        names, anonymous = environment_reads(path)
        read |= names
        if str(path.relative_to(ROOT)) not in GENERIC_READERS:
            unnamed += anonymous
    assert not unnamed, f"environment reads whose variable the test cannot name: {unnamed}"
    settings = {setting.name for setting in SETTINGS}
    assert read - settings == set(), "read from the environment but not in SETTINGS"
    read_elsewhere = {setting.name for setting in SETTINGS if setting.config_key is None}
    assert read_elsewhere - read == set(), "in SETTINGS as read elsewhere, but read nowhere"


# Refusals: one line naming the variable, the value and what is allowed


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MAIL_TRANSPORT", "smtpp", "MAIL_TRANSPORT='smtpp' is not one of: file, smtp"),
        ("SMTP_SECURITY", "tls", "SMTP_SECURITY='tls' is not one of: plain, starttls, ssl"),
        ("LOG_FORMAT", "jsn", "LOG_FORMAT='jsn' is not one of: json, text"),
        (
            "LOG_LEVEL",
            "verbose",
            "LOG_LEVEL='verbose' is not one of: DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
    ],
)
def test_a_word_outside_the_allowed_ones_is_refused(env, tmp_path, name, value, message):
    env.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SMTP_PORT", "smtp", "SMTP_PORT='smtp' is not an integer"),
        ("OUTBOX_LANES", "8.5", "OUTBOX_LANES='8.5' is not an integer"),
        ("SMTP_PORT", "70000", "SMTP_PORT='70000' is out of range: use 1 to 65535"),
        ("OUTBOX_LANES", "0", "OUTBOX_LANES='0' is out of range: use 1 to 256"),
        ("SMTP_TIMEOUT", "-5", "SMTP_TIMEOUT='-5' is out of range: use at least 1"),
        ("REMEMBER_COOKIE_DAYS", "0", "REMEMBER_COOKIE_DAYS='0' is out of range: use at least 1"),
        ("SCORING_FLAG_90D_PERCENT", "150", "out of range: use 0 to 100"),
    ],
)
def test_a_bad_number_is_refused(env, tmp_path, name, value, message):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(tmp_path)


def test_a_bad_boolean_is_refused(env, tmp_path):
    env.setenv("SESSION_COOKIE_SECURE", "sometimes")
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path)
    assert str(refused.value) == (
        "SESSION_COOKIE_SECURE='sometimes' is not a boolean: use 1/0, true/false, yes/no or on/off"
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BASE_URL", "cs.example.com", "BASE_URL='cs.example.com' is not a URL starting with"),
        ("BASE_URL", "https://", "BASE_URL='https://' has no host"),
        ("RATELIMIT_STORAGE_URI", "redsi://x:6379", "is not a URL starting with one of: mem"),
        ("LOGIN_RATE_LIMIT", "5 per minit", "LOGIN_RATE_LIMIT='5 per minit' is not a rate limit"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL uses 'mysql'"),
        ("BUSINESS_TIMEZONE", "Europe/Berln", "BUSINESS_TIMEZONE='Europe/Berln' is not an IANA"),
        ("BUSINESS_TIMEZONE", "America", "BUSINESS_TIMEZONE='America' is not an IANA time zone"),
    ],
)
def test_a_malformed_url_or_rate_limit_is_refused(env, tmp_path, name, value, message):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(tmp_path)


def test_a_bad_encryption_key_is_refused_without_repeating_it(env, tmp_path):
    env.setenv("INTEGRATIONS_KEY", "not-a-fernet-key-secret")
    with pytest.raises(ConfigError, match="INTEGRATIONS_KEY is not a comma-separated list") as no:
        load_config(tmp_path)
    assert "not-a-fernet-key-secret" not in str(no.value)


# Acceptance and defaults


def test_valid_values_are_accepted_and_words_take_their_canonical_spelling(env, tmp_path):
    for name, value in {
        "MAIL_TRANSPORT": "SMTP",
        "SMTP_SECURITY": "starttls",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "debug",
        "SMTP_PORT": "587",
        "SESSION_COOKIE_SECURE": "yes",
        "REMEMBER_COOKIE_DAYS": "7",
        "INTEGRATIONS_ALLOWED_HOSTS": "crm.internal, warehouse.internal:8443,",
        "BASE_URL": "https://cs.example.com",
        "RATELIMIT_STORAGE_URI": "redis://redis.internal:6379/0",
        "LOGIN_RATE_LIMIT": "10 per minute, 50/hour",
        "BUSINESS_TIMEZONE": " Pacific/Auckland ",
    }.items():
        env.setenv(name, value)
    config = load_config(tmp_path)
    assert (config["MAIL_TRANSPORT"], config["SMTP_SECURITY"]) == ("smtp", "starttls")
    assert (config["LOG_FORMAT"], config["LOG_LEVEL"]) == ("text", "DEBUG")
    assert config["SMTP_PORT"] == 587
    assert config["SESSION_COOKIE_SECURE"] is config["REMEMBER_COOKIE_SECURE"] is True
    assert config["REMEMBER_COOKIE_DURATION"] == dt.timedelta(days=7)
    assert config["INTEGRATIONS_ALLOWED_HOSTS"] == ["crm.internal", "warehouse.internal:8443"]
    assert config["BASE_URL"] == "https://cs.example.com"
    assert config["LOGIN_RATE_LIMIT"] == "10 per minute, 50/hour"
    assert config["BUSINESS_TIMEZONE"] == "Pacific/Auckland"


DEFAULTS = {  # as they were before settings were typed: unchanged
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "BASE_URL": "http://127.0.0.1:5000",
    "TRUSTED_PROXY_HOPS": 0,
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
    "BUSINESS_TIMEZONE": "UTC",
    "SCHEDULER_ENABLED": False,
    "SCHEDULER_EXTRA_JOB_MODULES": [],
    "OUTBOX_LEASE_SECONDS": 300,
    "OUTBOX_BACKOFF_PERCENT": 100,
    "OUTBOX_LANES": 8,
    "RAW_USAGE_EVENTS_RETENTION_DAYS": 35,
    "DELIVERY_LOG_RETENTION_DAYS": 90,
    "READY_REQUIRES_SCHEDULER": False,
    "METRICS_TOKEN": "",
    "MAIL_TRANSPORT": "file",
    "MAIL_FROM": "surveys@cs-platform.localhost",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": 25,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_SECURITY": "plain",
    "SMTP_ALLOW_PLAIN_AUTH": False,
    "SMTP_TIMEOUT": 30,
    "SMTP_RATE_PER_SECOND": 0,
    "SURVEY_FATIGUE_DAYS": 90,
    "SURVEY_PAGE_RATE_LIMIT": "60 per minute",
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": False,
    "LOGIN_RATE_LIMIT": "5 per minute;20 per hour",
    "LOGIN_ADDRESS_RATE_LIMIT": "100 per hour",
    "LOGIN_ACCOUNT_RATE_LIMIT": "100 per hour",
    "PASSWORD_RESET_RATE_LIMIT": "5 per hour",
    "REMEMBER_COOKIE_DURATION": dt.timedelta(days=30),
    "API_RATE_LIMIT": "1200 per minute",
    "API_KEY_CACHE_SECONDS": 10,
    "WEBHOOK_ENCRYPTION_KEY": None,
    "WEBHOOK_TIMEOUT_SECONDS": 15,
    "WEBHOOK_ROTATION_OVERLAP_HOURS": 24,
    "WEBHOOK_FLAG_AFTER_FAILURES": 5,
    "HEALTH_CHANGE_POINTS": 10,
    "INTEGRATIONS_HTTP_TIMEOUT": 30,
    "INTEGRATIONS_ALLOWED_HOSTS": [],
    "INTEGRATIONS_ALLOW_PRIVATE_HOSTS": False,
    "ALERTS_ALLOW_PRIVATE_HOSTS": False,
    "WAREHOUSE_STATEMENT_TIMEOUT_SECONDS": 300,
    "WAREHOUSE_MAX_ROWS": 1_000_000,
    "INGEST_RATE_LIMIT": "6000 per minute",
    "SCORING_MIN_CHURN_EVENTS": 30,
    "SCORING_BOOST_ROUNDS": 600,
    "SCORING_TRAINING_MONTHS": 12,
    "HEALTH_MODEL_GREEN_AT": 50,
    "HEALTH_MODEL_RED_BELOW": 33,
    "HEALTH_BAND_MARGIN_POINTS": 2,
    "SCORING_FLAG_RENEWAL_PERCENT": 50,
    "SCORING_FLAG_90D_PERCENT": 30,
    "SCORING_FLAG_DROP_POINTS": 15,
    "SCORING_FLAG_RELATIVE_RISK": 3,
    "RENEWAL_TASK_DAYS": 90,
    "AUTOMATION_CONFIRM_PERCENT": 10,
    "DIGEST_ENABLED": True,
    "DIGEST_HOUR": 7,
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_SECURE": False,
    "WTF_CSRF_TIME_LIMIT": None,
}


def test_the_defaults_are_unchanged(env, tmp_path):
    config = load_config(tmp_path)
    assert {key: config[key] for key in DEFAULTS} == DEFAULTS
    computed = {"SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "INTEGRATIONS_KEY", "MAIL_DIR"}
    assert set(config) == set(DEFAULTS) | computed
    assert config["MAIL_DIR"] == str(tmp_path / "mail")
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/cs_platform.db"
    assert config["INTEGRATIONS_KEY"] == (tmp_path / "integrations_key").read_text()


def test_an_empty_variable_counts_as_unset(env, tmp_path):
    env.setenv("SMTP_PORT", "")
    env.setenv("MAIL_TRANSPORT", "")
    config = load_config(tmp_path)
    assert (config["SMTP_PORT"], config["MAIL_TRANSPORT"]) == (25, "file")


# Start-up


def test_create_app_stops_on_a_bad_setting(env, tmp_path):
    env.setenv("LOG_FORMAT", "jsn")
    with pytest.raises(ConfigError, match="LOG_FORMAT='jsn' is not one of: json, text"):
        create_app(instance_path=str(tmp_path))


def test_the_cli_stops_with_one_readable_line_on_a_bad_setting(tmp_path):
    env = {"MAIL_TRANSPORT": "smtpp", "INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "routes"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == "config error: MAIL_TRANSPORT='smtpp' is not one of: file, smtp\n"
    assert result.stdout == ""

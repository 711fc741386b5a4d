"""The application shell: configuration, start-up errors, security headers."""

from __future__ import annotations

import subprocess
import sys

import pytest
from flask import Flask

from cs_platform.config import ConfigError, load_config, normalise_database_url


def test_secret_key_is_generated_once_and_kept_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_config(tmp_path)["SECRET_KEY"]
    second = load_config(tmp_path)["SECRET_KEY"]
    assert first == second
    assert len(first) >= 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_database_defaults_to_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert (
        load_config(tmp_path)["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/cs_platform.db"
    )


def test_postgresql_urls_use_the_psycopg3_driver():
    url = normalise_database_url("postgresql://u:p@db:5432/cs")
    assert url == "postgresql+psycopg://u:p@db:5432/cs"


def test_malformed_database_url_is_a_config_error():
    with pytest.raises(ConfigError, match="malformed"):
        normalise_database_url("not a url")


def test_boolean_settings_reject_unclear_values(tmp_path, monkeypatch):
    monkeypatch.setenv("SCHEDULER_ENABLED", "maybe")
    with pytest.raises(ConfigError, match="SCHEDULER_ENABLED"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        ("mysql+nonsense://x", "config error: DATABASE_URL"),
        ("postgresql://nobody@127.0.0.1:1/nothing", "config error: cannot reach DATABASE_URL"),
        ("::::", "config error: DATABASE_URL '::::' is malformed"),
    ],
)
def test_wsgi_stops_with_one_clear_line_on_a_bad_database_url(tmp_path, database_url, expected):
    env = {"DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.startswith(expected)
    assert len(result.stderr.strip().splitlines()) == 1


def test_responses_carry_security_headers_and_a_request_id(client):
    response = client.get("/login", headers={"X-Request-ID": "req-123"})
    assert response.headers["X-Request-ID"] == "req-123"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_pages_render_a_readable_404(client):
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "Not Found" in response.text


def test_unknown_api_paths_answer_json(client):
    response = client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_each_view_and_hook_is_checked_for_a_coroutine_once_not_on_every_request(
    app, client, monkeypatch
):
    checked: list[object] = []
    flask_check = Flask.ensure_sync
    monkeypatch.setattr(app, "sync_callables", {})
    monkeypatch.setattr(Flask, "ensure_sync", lambda a, f: checked.append(f) or flask_check(a, f))
    assert client.get("/healthz").status_code == 200
    first = len(checked)
    assert client.get("/healthz").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert first > 5 and len(checked) == first == len(set(checked))

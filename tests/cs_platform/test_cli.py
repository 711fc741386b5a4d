"""The command-line tools for users and API keys."""

from __future__ import annotations

from sqlalchemy import select

from cs_platform.auth.services import find_active_api_key
from cs_platform.extensions import db
from cs_platform.models import ApiKey, AuditEntry, User
from tests.conftest import PASSWORD


def test_create_user_makes_a_user_who_can_sign_in(runner, client):
    result = runner.invoke(
        args=[
            "create-user",
            "--email",
            "Ana@Example.com",
            "--name",
            "Ana",
            "--role",
            "admin",
            "--password",
            "a long password",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "created admin ana@example.com" in result.output
    response = client.post(
        "/login", data={"email": "ana@example.com", "password": "a long password"}
    )
    assert response.status_code == 302


def test_create_user_refuses_a_short_password_with_one_line(runner):
    result = runner.invoke(
        args=["create-user", "--email", "a@example.com", "--name", "A", "--password", "short"]
    )
    assert result.exit_code == 1
    assert "Error: the password needs at least 10 characters" in result.output
    assert db.session.scalar(select(User)) is None


def test_create_user_refuses_a_duplicate_email(runner, make_user):
    user = make_user("csm")
    result = runner.invoke(
        args=["create-user", "--email", user.email, "--name", "B", "--password", "another password"]
    )
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_create_api_key_prints_the_key_once_and_stores_its_hash(runner):
    result = runner.invoke(
        args=[
            "create-api-key",
            "--name",
            "Looker",
            "--scope",
            "read:scores",
            "--scope",
            "read:surveys",
        ]
    )
    assert result.exit_code == 0, result.output
    plaintext = result.output.strip().splitlines()[-1]
    key = find_active_api_key(plaintext)
    assert key is not None
    assert key.scopes == ["read:scores", "read:surveys"]
    assert plaintext not in str(db.session.scalar(select(ApiKey.key_hash)))


def test_create_api_key_rejects_an_unknown_scope(runner):
    result = runner.invoke(args=["create-api-key", "--name", "x", "--scope", "everything"])
    assert result.exit_code == 2
    assert "Invalid value for '--scope'" in result.output


def test_creating_users_and_keys_is_written_to_the_audit_log(runner):
    runner.invoke(
        args=["create-user", "--email", "a@example.com", "--name", "A", "--password", PASSWORD]
    )
    runner.invoke(args=["create-api-key", "--name", "BI", "--scope", "read:scores"])
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["user.created", "api_key.created"]

"""API keys: stored hashed, scoped, revocable, checked by the API-key decorator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, g, jsonify

from cs_platform import create_app
from cs_platform.auth.decorators import api_key_required, roles_required
from cs_platform.auth.services import AuthError, create_api_key, hash_api_key
from cs_platform.extensions import db
from cs_platform.models import ApiKey, utcnow
from tests.conftest import PASSWORD


@pytest.fixture(scope="module")
def guarded_app(app: Flask, tmp_path_factory) -> Iterator[Flask]:
    """A second app on the same database with probe routes guarded by the decorators."""
    probe = create_app(dict(app.config), instance_path=str(tmp_path_factory.mktemp("probe")))
    probe.test_client_class = app.test_client_class

    @probe.route("/api/v1/_probe/scores")
    @api_key_required("read:scores")
    def probe_scores():
        return jsonify(key=g.api_key.name)

    @probe.route("/_probe/admin-only")
    @roles_required("admin")
    def probe_admin():
        return "admin area"

    yield probe
    with probe.app_context():
        db.engine.dispose()


@pytest.fixture
def client(guarded_app: Flask):
    return guarded_app.test_client()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_an_api_key_is_shown_once_and_only_its_hash_is_stored(app):
    key, plaintext = create_api_key("warehouse sync", ["read:scores"])
    db.session.commit()
    stored = db.session.get(ApiKey, key.id)
    assert plaintext.startswith("csk_")
    assert stored.key_hash == hash_api_key(plaintext)
    assert plaintext not in (stored.key_hash, stored.prefix)


def test_a_valid_key_with_the_scope_is_let_in_and_its_use_is_recorded(client):
    key, plaintext = create_api_key("bi", ["read:scores"])
    db.session.commit()
    response = client.get("/api/v1/_probe/scores", headers=bearer(plaintext))
    assert response.status_code == 200
    assert response.json == {"key": "bi"}
    assert db.session.get(ApiKey, key.id).last_used_at is not None


def test_a_missing_key_gets_a_json_401(client):
    response = client.get("/api/v1/_probe/scores")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_a_key_without_the_scope_gets_a_json_403(client):
    _, plaintext = create_api_key("surveys only", ["read:surveys"])
    db.session.commit()
    response = client.get("/api/v1/_probe/scores", headers=bearer(plaintext))
    assert response.status_code == 403
    assert "read:scores" in response.json["error"]["message"]


def test_a_revoked_key_is_refused(client):
    key, plaintext = create_api_key("old", ["admin"])
    key.revoked_at = utcnow()
    db.session.commit()
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 401


def test_unknown_scopes_are_rejected(app):
    with pytest.raises(AuthError, match="unknown scope"):
        create_api_key("typo", ["read:everything"])


def test_role_checks_forbid_other_roles(make_user, client):
    viewer = make_user("viewer")
    client.post("/login", data={"email": viewer.email, "password": PASSWORD})
    assert client.get("/_probe/admin-only").status_code == 403


def test_role_checks_let_the_role_in(make_user, client):
    admin = make_user("admin")
    client.post("/login", data={"email": admin.email, "password": PASSWORD})
    assert client.get("/_probe/admin-only").text == "admin area"

"""API keys: stored hashed, scoped, revocable, checked by the API-key decorator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, g, jsonify
from sqlalchemy import update

from cs_platform import create_app
from cs_platform.auth import services as auth_services
from cs_platform.auth.decorators import api_key_required, roles_required
from cs_platform.auth.services import (
    LAST_USED_RESOLUTION,
    ActiveKey,
    ApiKeyCache,
    AuthError,
    api_key_cache,
    create_api_key,
    hash_api_key,
)
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


@pytest.fixture
def cache_clock(guarded_app: Flask, monkeypatch) -> list[float]:
    """The probe app's key cache on a clock the test moves: clock[0] seconds."""
    clock = [1000.0]
    with guarded_app.app_context():
        monkeypatch.setattr(api_key_cache(), "now", lambda: clock[0])
    return clock


def revoke_elsewhere(key: ApiKey) -> None:
    """Revoke as another process would: one UPDATE, without this process's ORM events."""
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(revoked_at=utcnow()))
    db.session.commit()


def test_a_key_revoked_elsewhere_is_refused_once_the_cache_seconds_have_passed(
    client, guarded_app, cache_clock
):
    key, plaintext = create_api_key("bi", ["read:scores"])
    db.session.commit()
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 200
    revoke_elsewhere(key)
    seconds = guarded_app.config["API_KEY_CACHE_SECONDS"]
    cache_clock[0] += seconds - 1
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 200
    cache_clock[0] += 1
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 401


def test_a_key_changed_by_the_same_app_is_checked_again_at_once(client, guarded_app, cache_clock):
    key, plaintext = create_api_key("bi", ["read:scores"])
    db.session.commit()
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 200
    with guarded_app.app_context():  # as its admin page would
        db.session.get(ApiKey, key.id).scopes = ["read:surveys"]
        db.session.commit()
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 403


def test_a_scope_removed_elsewhere_is_honoured_once_the_cache_seconds_have_passed(
    client, guarded_app, cache_clock
):
    key, plaintext = create_api_key("bi", ["read:scores"])
    db.session.commit()
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 200
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(scopes=["read:surveys"]))
    db.session.commit()
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 200
    cache_clock[0] += guarded_app.config["API_KEY_CACHE_SECONDS"]
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 403


def test_each_app_keeps_its_own_key_cache(app, client, cache_clock):
    key, plaintext = create_api_key("bi", ["read:scores"])
    db.session.commit()
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 200
    revoke_elsewhere(key)
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 200
    # The main app never checked the key: it reads the revocation at once.
    assert app.test_client().get("/api/v1/accounts", headers=bearer(plaintext)).status_code == 401


def test_a_cache_of_zero_seconds_checks_the_key_on_every_call():
    cache = ApiKeyCache(0, now=lambda: 5.0)
    cache.keep("hash", ActiveKey(1, "bi", "csk_abc", ["read:scores"], None))
    assert cache.get("hash") is None


def test_a_cached_key_still_records_its_use_each_minute(client, monkeypatch):
    key, plaintext = create_api_key("bi", ["read:scores"])
    db.session.commit()
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 200
    a_minute_later = utcnow() + LAST_USED_RESOLUTION
    monkeypatch.setattr(auth_services, "utcnow", lambda: a_minute_later)
    assert client.get("/api/v1/_probe/scores", headers=bearer(plaintext)).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).last_used_at == a_minute_later

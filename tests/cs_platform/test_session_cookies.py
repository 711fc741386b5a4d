"""Session and remember-me cookies: HttpOnly and SameSite always, Secure when configured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cs_platform.config import load_config
from tests.conftest import PASSWORD

COOKIE_KEYS = ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE")


@pytest.fixture
def secure_cookies(app, monkeypatch, tmp_path) -> Iterator[None]:
    """The app configured as in production with SESSION_COOKIE_SECURE=1."""
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    configured = load_config(tmp_path)
    saved = {key: app.config[key] for key in COOKIE_KEYS}
    app.config.update({key: configured[key] for key in COOKIE_KEYS})
    yield
    app.config.update(saved)


def login_cookies(client, user) -> dict[str, str]:
    """Sign in with "keep me signed in"; the Set-Cookie headers by cookie name."""
    form = {"email": user.email, "password": PASSWORD, "remember": "y"}
    response = client.post("/login", data=form)
    assert response.status_code == 302
    headers = response.headers.getlist("Set-Cookie")
    return {header.split("=", 1)[0]: header for header in headers}


def attributes(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


def test_session_cookies_are_http_only_and_same_site_lax(client, make_user):
    cookies = login_cookies(client, make_user("csm"))
    for name in ("session", "remember_token"):
        assert {"httponly", "samesite=lax"} <= attributes(cookies[name])
        assert "secure" not in attributes(cookies[name])  # plain HTTP on a laptop still works


def test_session_cookies_are_secure_when_session_cookie_secure_is_set(
    secure_cookies, client, make_user
):
    cookies = login_cookies(client, make_user("csm"))
    for name in ("session", "remember_token"):
        assert {"httponly", "samesite=lax", "secure"} <= attributes(cookies[name])


def test_https_only_cookies_come_with_hsts(client, secure_cookies):
    response = client.get("/login")

    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_no_hsts_while_cookies_may_travel_over_http(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_pages_that_show_a_secret_once_are_never_cached(client, make_user, login):
    login(make_user("admin"))
    data = {"name": "BI export", "scopes": ["read:scores"]}

    api_key = client.post("/admin/api-keys/", data=data)
    webhook = client.post(
        "/admin/webhooks/",
        data={
            "url": "http://127.0.0.1:9/cs",
            "allow_private": "y",
            "event_types": ["health_score.changed"],
        },
    )

    assert "csk_" in api_key.text
    assert "whsec_" in webhook.text
    for response in (api_key, webhook):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Pragma"] == "no-cache"


def test_a_signed_out_page_may_be_cached_as_usual(client):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")

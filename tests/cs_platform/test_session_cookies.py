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

"""Accounts people can trust: sessions that end, passwords by strength, emailed single-use
reset links, admin-forced resets, a CSRF token rotated at sign-in, throttling nobody can use to
lock a user out, and every sign-in in the audit log."""

from __future__ import annotations

import datetime as dt
import logging
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from cs_platform.auth.passwords import start_reset
from cs_platform.auth.services import AuthError, check_password_strength
from cs_platform.extensions import db
from cs_platform.models import utcnow
from cs_platform.outbox import OutboxMessage
from tests.conftest import PASSWORD, audit_trail
from tests.surveys.helpers import deliver_all

NEW_PASSWORD = "velvet thunder orbit lantern"
ATTACKER = {"REMOTE_ADDR": "198.51.100.66"}
ELSEWHERE = {"REMOTE_ADDR": "192.0.2.10"}
RESET_LINK = re.compile(r"http://127\.0\.0\.1:5000(/login/reset/\d+\.[0-9a-f]{64})")


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **extra):
    """POST the sign-in form; `environ_base` (the client's address) goes to the request."""
    environ = extra.pop("environ_base", {})
    data = {"email": email, "password": password, **extra}
    return client.post("/login", data=data, environ_base=environ)


def remember_cookie(client: FlaskClient) -> str:
    return client.get_cookie("remember_token").value


def fresh_client_with(app, cookie: str) -> FlaskClient:
    thief = app.test_client()
    thief.set_cookie("remember_token", cookie)
    return thief


def mailed_reset_path(app, email: str) -> str:
    """Deliver the outbox and read the newest reset link mailed to `email` from the .eml files."""
    deliver_all()
    mails = sorted(
        Path(app.config["MAIL_DIR"]).glob("account-*.eml"), key=lambda p: p.stat().st_mtime
    )
    for path in reversed(mails):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == email:
            return RESET_LINK.search(message.get_body(("plain",)).get_content()).group(1)
    raise AssertionError(f"no reset email to {email}")


def test_a_copied_remember_me_cookie_stops_working_after_sign_out(app, client, make_user):
    user = make_user("csm")
    sign_in(client, user.email, remember="y")
    copied = remember_cookie(client)
    assert fresh_client_with(app, copied).get("/").status_code == 200

    client.post("/logout")

    assert fresh_client_with(app, copied).get("/").status_code == 302


def test_each_sign_in_gets_a_cookie_that_dies_with_a_password_change(app, client, make_user):
    user = make_user("csm")
    sign_in(client, user.email, remember="y")
    other_device = fresh_client_with(app, remember_cookie(client))

    response = client.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert client.get("/").status_code == 200  # this session goes on
    assert other_device.get("/").status_code == 302
    assert sign_in(app.test_client(), user.email, NEW_PASSWORD).status_code == 302
    assert "password.changed" in [entry.action for entry in audit_trail()]


def test_keep_me_signed_in_lasts_thirty_days_by_default(client, make_user):
    sign_in(client, make_user("csm").email, remember="y")

    lifetime = client.get_cookie("remember_token").expires - dt.datetime.now(dt.UTC)

    assert dt.timedelta(days=29) < lifetime <= dt.timedelta(days=30)


def test_a_password_change_renews_this_devices_keep_me_signed_in_cookie(app, client, make_user):
    user = make_user("csm")
    sign_in(client, user.email, remember="y")
    old_cookie = remember_cookie(client)

    client.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )

    assert remember_cookie(client) != old_cookie
    assert fresh_client_with(app, remember_cookie(client)).get("/").status_code == 200
    assert fresh_client_with(app, old_cookie).get("/").status_code == 302


def test_a_password_change_needs_the_current_password(csm_client):
    response = csm_client.post(
        "/account/password",
        data={"current": "not my password", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )

    assert response.status_code == 400
    assert "current password is not right" in response.text


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("aaaaaaaaaa", "too easy to guess"),
        ("password1234", "too easy to guess"),
        ("qwertyuiop12", "too easy to guess"),
        ("short1!", "at least 10 characters"),
        ("casey.morgan.2026!", "your name or email"),
        ("x" * 201, "at most 200"),
    ],
)
def test_weak_or_personal_passwords_are_refused_with_advice(password, reason):
    with pytest.raises(AuthError, match=reason):
        check_password_strength(password, ["casey.morgan@example.com", "Casey Morgan"])


def test_a_strong_passphrase_is_accepted():
    check_password_strength(NEW_PASSWORD, ["casey.morgan@example.com", "Casey Morgan"])


def test_a_forgotten_password_is_reset_by_an_emailed_single_use_link(app, client, make_user):
    user = make_user("csm")
    signed_in = app.test_client()
    sign_in(signed_in, user.email)

    answer = client.post("/login/forgot", data={"email": user.email}, follow_redirects=True)
    path = mailed_reset_path(app, user.email)
    form = client.get(path)
    done = client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert "a link to choose a new password is on its way" in answer.text
    assert form.status_code == 200
    assert form.headers["Referrer-Policy"] == "no-referrer"
    assert done.status_code == 302
    assert sign_in(app.test_client(), user.email, NEW_PASSWORD).status_code == 302
    assert sign_in(app.test_client(), user.email, PASSWORD).status_code == 401
    assert signed_in.get("/").status_code == 302  # the reset signed them out everywhere
    assert client.get(path).status_code == 410  # single use
    actions = [entry.action for entry in audit_trail()]
    assert "password.reset_requested" in actions and "password.reset" in actions


def test_a_weak_password_on_the_reset_page_is_refused_and_the_link_still_works(app, make_user):
    user = make_user("csm")
    start_reset(user)
    db.session.commit()
    path = mailed_reset_path(app, user.email)
    browser = app.test_client()

    refused = browser.post(path, data={"password": "aaaaaaaaaa", "confirm": "aaaaaaaaaa"})

    assert refused.status_code == 400
    assert "too easy to guess" in refused.text
    assert browser.get(path).status_code == 200
    assert sign_in(app.test_client(), user.email).status_code == 302  # old password unchanged


def test_a_newer_reset_link_voids_the_older_one(app, make_user):
    user = make_user("csm")
    start_reset(user)
    db.session.commit()
    first = mailed_reset_path(app, user.email)
    start_reset(user)
    db.session.commit()
    second = mailed_reset_path(app, user.email)

    assert app.test_client().get(first).status_code == 410
    assert app.test_client().get(second).status_code == 200


def test_a_reset_link_stops_working_after_an_hour(app, make_user):
    user = make_user("csm")
    reset = start_reset(user)
    db.session.commit()
    path = mailed_reset_path(app, user.email)

    reset.expires_at = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()

    assert app.test_client().get(path).status_code == 410


def test_changing_the_password_voids_a_pending_reset_link(app, client, make_user):
    user = make_user("csm")
    start_reset(user)
    db.session.commit()
    path = mailed_reset_path(app, user.email)
    sign_in(client, user.email)

    client.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )

    assert app.test_client().get(path).status_code == 410


def test_the_reset_link_is_neither_stored_nor_logged(app, client, make_user, caplog):
    user = make_user("csm")
    caplog.set_level(logging.DEBUG)
    client.post("/login/forgot", data={"email": user.email})
    token = mailed_reset_path(app, user.email).rsplit("/", 1)[1]

    stored = [str(message.payload) for message in db.session.scalars(select(OutboxMessage))]
    assert stored and not any(token in payload for payload in stored)
    assert token not in caplog.text


def test_reset_requests_are_rate_limited(client, make_user, monkeypatch, app):
    monkeypatch.setitem(app.config, "PASSWORD_RESET_RATE_LIMIT", "2 per hour")
    user = make_user("csm")

    codes = [client.post("/login/forgot", data={"email": user.email}).status_code for _ in range(3)]

    assert codes == [302, 302, 429]
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 2


@pytest.mark.parametrize(
    "path", ["/login/reset/1.deadbeef", "/login/reset/1." + "0" * 64, "/login/reset/x"]
)
def test_a_forged_reset_link_is_refused(client, make_user, path):
    start_reset(make_user("csm"))
    db.session.commit()

    assert client.get(path).status_code == 410


def test_asking_for_an_unknown_email_looks_the_same_and_sends_nothing(app, client):
    answer = client.post(
        "/login/forgot", data={"email": "nobody@example.com"}, follow_redirects=True
    )

    assert "a link to choose a new password is on its way" in answer.text
    assert deliver_all() == {}


def test_an_admin_forced_reset_voids_the_password_and_every_session(app, make_user, login):
    user = make_user("csm")
    victim_session = app.test_client()
    sign_in(victim_session, user.email, remember="y")
    admin = login(make_user("admin"))

    response = admin.post(f"/admin/users/{user.id}/reset-password")

    assert response.status_code == 302
    assert victim_session.get("/").status_code == 302
    assert sign_in(app.test_client(), user.email, PASSWORD).status_code == 401
    path = mailed_reset_path(app, user.email)
    assert (
        app.test_client()
        .post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
        .status_code
        == 302
    )
    forced = [entry for entry in audit_trail() if entry.action == "password.reset_forced"]
    assert [(entry.target, entry.actor.role) for entry in forced] == [(user.email, "admin")]


def test_only_an_admin_can_force_a_reset(app, make_user, login):
    user = make_user("csm")
    colleague = login(make_user("csm"))

    response = colleague.post(f"/admin/users/{user.id}/reset-password")

    assert response.status_code == 403
    assert sign_in(app.test_client(), user.email).status_code == 302
    assert deliver_all() == {}


def test_sign_in_renews_the_csrf_token_and_drops_old_session_data(client, make_user, csrf_enabled):
    user = make_user("csm")
    token = re.compile(r'name="csrf_token"[^>]* value="([^"]+)"')
    before = token.search(client.get("/login").text).group(1)
    with client.session_transaction() as session:
        raw_before = session["csrf_token"]
        session["planted_by_attacker"] = "fixated"

    assert sign_in(client, user.email, csrf_token=before).status_code == 302

    client.get("/")
    with client.session_transaction() as session:
        assert session.get("csrf_token") not in (None, raw_before)
        assert "planted_by_attacker" not in session  # nothing from before sign-in survives


def test_an_attacker_guessing_from_one_address_cannot_keep_the_user_out(
    app, client, make_user, monkeypatch
):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "5 per minute;20 per hour")
    monkeypatch.setitem(app.config, "LOGIN_ADDRESS_RATE_LIMIT", "100 per hour")
    monkeypatch.setitem(app.config, "LOGIN_ACCOUNT_RATE_LIMIT", "100 per hour")
    user = make_user("csm")

    codes = [
        sign_in(client, user.email, f"guess {n}", environ_base=ATTACKER).status_code
        for n in range(50)
    ]
    genuine = sign_in(app.test_client(), user.email, environ_base=ELSEWHERE)

    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    assert genuine.status_code == 302


def test_one_address_guessing_across_many_accounts_is_stopped(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_ADDRESS_RATE_LIMIT", "3 per minute")

    codes = [
        sign_in(client, f"person{n}@example.com", "guess", environ_base=ATTACKER).status_code
        for n in range(4)
    ]
    elsewhere = sign_in(app.test_client(), "person9@example.com", "guess", environ_base=ELSEWHERE)

    assert codes == [401, 401, 401, 429]
    assert (
        "Too many wrong passwords from this address"
        in client.post(
            "/login", data={"email": "x@example.com", "password": "guess"}, environ_base=ATTACKER
        ).text
    )
    assert elsewhere.status_code == 401


def test_sign_ins_failures_and_sign_outs_are_audited_without_the_password(client, make_user):
    user = make_user("csm")
    sign_in(client, user.email, "a wrong password")
    sign_in(client, user.email)
    client.post("/logout")

    entries = [(entry.action, entry.target) for entry in audit_trail(sign_ins=True)]
    assert entries == [
        ("login.failed", user.email),
        ("login.succeeded", user.email),
        ("logout", user.email),
    ]
    assert all("wrong password" not in str(entry.details) for entry in audit_trail(sign_ins=True))

"""Signing in and out of the CSM pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cs_platform.auth.routes import safe_next_url
from cs_platform.extensions import db
from cs_platform.outbox import OutboxMessage
from tests.conftest import PASSWORD, audit_trail
from tests.surveys.helpers import deliver_all


def test_pages_need_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_a_user_signs_in_and_lands_on_the_page_they_asked_for(client, make_user):
    user = make_user("csm")
    response = client.post(
        "/login?next=/accounts/1", data={"email": user.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/1"


def test_a_login_never_redirects_to_another_site(client, make_user):
    user = make_user("csm")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example",
                   "////evil.example/phish", "/\t/evil.example", "/%0A/evil.example",
                   "/\n/evil.example", "https:/evil.example", " //evil.example"):  # fmt: skip
        response = client.post(
            f"/login?next={target}", data={"email": user.email, "password": PASSWORD}
        )
        assert response.headers["Location"] == "/"


OFF_SITE_TARGETS = [
    "https://evil.example/", "//evil.example", "////evil.example/phish", "/\\evil.example",
    "\\\\evil.example", "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example",
    " //evil.example", "/ /evil.example", "https:/evil.example", "javascript:alert(1)",
    "data:text/html,<script>", "evil.example", "/\x00/evil.example", "/\u3000/evil.example",
]  # fmt: skip


@pytest.mark.parametrize("target", OFF_SITE_TARGETS)
def test_an_off_site_or_disguised_next_target_falls_back_to_the_home_page(app, target):
    with app.test_request_context():
        assert safe_next_url(target) == "/"


@pytest.mark.parametrize("target", ["/accounts/1", "/accounts?page=2&q=a%2Fb", "/admin/users"])
def test_a_same_site_next_path_is_followed(app, target):
    with app.test_request_context():
        assert safe_next_url(target) == target


def test_an_encoded_double_slash_in_next_is_refused_after_decoding(client, make_user):
    user = make_user("csm")
    response = client.post(
        "/login?next=%2F%2Fevil.example%2Fphish", data={"email": user.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


def test_a_wrong_password_shows_a_readable_error(client, make_user):
    user = make_user("csm")
    response = client.post("/login", data={"email": user.email, "password": "wrong password!"})
    assert response.status_code == 401
    assert "Wrong email or password." in response.text


def test_an_unknown_email_gets_the_same_error_as_a_wrong_password(client):
    response = client.post("/login", data={"email": "who@example.com", "password": "whatever12"})
    assert response.status_code == 401
    assert "Wrong email or password." in response.text


def test_a_deactivated_user_cannot_sign_in(client, make_user):
    from cs_platform.extensions import db

    user = make_user("csm")
    user.active = False
    db.session.commit()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401


def test_repeated_failed_logins_are_throttled(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "3 per minute")
    codes = [
        client.post(
            "/login", data={"email": "x@example.com", "password": "nope nope nope"}
        ).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]


def test_successful_sign_ins_do_not_use_up_the_limit(app, client, make_user, monkeypatch):
    user = make_user("csm")
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    codes = []
    for _ in range(3):
        codes.append(
            client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code
        )
        client.post("/logout")
    assert codes == [302, 302, 302]


def test_a_flood_of_guesses_at_one_account_pauses_it_and_tells_its_owner(
    app, client, make_user, monkeypatch
):
    user = make_user("csm")
    monkeypatch.setitem(app.config, "LOGIN_ACCOUNT_RATE_LIMIT", "2 per minute")
    responses = [
        client.post(
            "/login",
            data={"email": user.email, "password": "wrong guess"},
            environ_base={"REMOTE_ADDR": f"203.0.113.{n}"},
        )
        for n in range(4)
    ]

    assert [response.status_code for response in responses] == [401, 401, 429, 429]
    assert "password sign-ins are paused" in responses[-1].text
    notices = db.session.scalars(select(OutboxMessage.payload)).all()
    assert notices == [{"template": "login_notice", "user_id": user.id}]  # once, not per guess
    assert [entry.action for entry in audit_trail()] == ["login.paused"]
    assert deliver_all() == {"sent": 1}


def test_the_login_form_is_protected_against_csrf(client, make_user, csrf_enabled):
    user = make_user("csm")
    forged = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert forged.status_code == 400
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    genuine = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert genuine.status_code == 302


def test_signing_out_ends_the_session(csm_client):
    assert csm_client.get("/").status_code == 200
    assert csm_client.post("/logout").status_code == 302
    assert csm_client.get("/").status_code == 302


def test_passwords_are_stored_hashed(make_user):
    user = make_user("admin")
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_a_first_visit_to_the_home_page_goes_to_sign_in_without_a_message(client):
    response = client.get("/", follow_redirects=True)
    assert response.request.path == "/login"
    assert "Please sign in to see that page." not in response.text


def test_asking_for_a_deeper_page_says_to_sign_in_first_and_keeps_the_page(client):
    response = client.get("/accounts/1")
    assert response.headers["Location"] == "/login?next=%2Faccounts%2F1"
    assert "Please sign in to see that page." in client.get(response.headers["Location"]).text

"""A CSM signs in with a real browser and works the accounts list."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.factories import AccountFactory

pytestmark = pytest.mark.browser


def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_csm_signs_in_and_sees_the_accounts_list(page, live_server, make_user, app):
    app.config["WTF_CSRF_ENABLED"] = True
    user = make_user("csm", name="Jordan Lee")
    AccountFactory(name="Acme Analytics")
    AccountFactory(name="Globex", owner=user)
    sign_in(page, live_server, user.email)
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    expect(page.get_by_role("link", name="Acme Analytics")).to_be_visible()
    page.get_by_label("Search accounts").fill("globex")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("link", name="Globex")).to_be_visible()
    expect(page.get_by_role("link", name="Acme Analytics")).to_have_count(0)
    page.get_by_role("link", name="Globex").click()
    page.get_by_label("Add a note").fill("Renewal call booked for Tuesday")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("Renewal call booked for Tuesday")).to_be_visible()


def test_a_wrong_password_shows_an_error_in_the_page(page, live_server, make_user):
    user = make_user("csm")
    sign_in(page, live_server, user.email, "not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
